"""The leaderboard page: ratings with intervals, best first, votes per pair, updated by each
vote (the fit is cached per set of votes)."""

import re

import pytest

from tests.webapp.arena.conftest import answered_battle
from webapp.arena.actions import do_vote

pytestmark = pytest.mark.django_db


def _rows(page: str) -> list[str]:
    table = page.split('id="ratings"', 1)[1].split("</table>", 1)[0]
    return re.findall(r"<td>([\w-]+ v\d+)", table)


def test_it_ranks_by_the_votes_and_counts_each_pair(alice_client, alice, completion, pair):
    alpha, beta = pair
    for left, right, outcome in [(alpha, beta, "left")] * 3 + [(beta, alpha, "right"),
                                                                (beta, alpha, "left"),
                                                                (alpha, beta, "both_bad")]:  # fmt: skip
        do_vote(answered_battle(alice, completion, left, right), outcome)
    page = alice_client.get("/arena/leaderboard/completion/").content.decode()
    assert _rows(page) == ["alpha-secret v1", "beta-secret v1"]
    assert "6 votes on this board" in page
    pairs = page.split('id="pairs"', 1)[1].split("</table>", 1)[0]
    cells = re.findall(r"<td>([^<]*)</td>", pairs)
    assert cells[:7] == ["alpha-secret v1", "beta-secret v1", "6", "4", "0", "1", "1"]
    ratings = [float(r) for r in re.findall(r'data-field="rating">(\d+)<', page)]
    assert ratings[0] > 1000 > ratings[1]

    for _ in range(4):  # beta now wins more: the cached fit must not hide it
        do_vote(answered_battle(alice, completion, alpha, beta), "right")
    page = alice_client.get("/arena/leaderboard/completion/").content.decode()
    assert _rows(page) == ["beta-secret v1", "alpha-secret v1"]


def test_an_empty_board_says_so_and_the_index_goes_to_the_first_board(alice_client, chat_board):
    response = alice_client.get("/arena/leaderboard/")
    assert response.status_code == 302
    page = alice_client.get("/arena/leaderboard/chat/").content.decode()
    assert "No votes yet." in page and "0 votes on this board" in page
    assert alice_client.get("/arena/leaderboard/nope/").status_code == 404
