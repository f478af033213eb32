"""Deleting a version takes the battles it answered in and their votes along, and its Delete
page says so before anything happens."""

import pytest

from tests.webapp.arena.conftest import answered_battle, make_version
from webapp.arena.actions import do_vote
from webapp.arena.models import Battle, Vote

pytestmark = pytest.mark.django_db


def test_the_plan_counts_the_battles_and_deleting_removes_them(
    alice_client, alice, completion, pair, tiny_checkpoint
):
    alpha, beta = pair
    gamma = make_version(alice, tiny_checkpoint, name="gamma")
    do_vote(answered_battle(alice, completion, alpha, beta), "left")
    answered_battle(alice, completion, beta, alpha)  # not voted
    kept = do_vote(answered_battle(alice, completion, beta, gamma), "tie")

    page = alice_client.get(f"/models/{alpha.pk}/delete/").content.decode()
    assert "2 arena battle(s) it answered in are deleted, with their 1 vote(s)" in page
    alice_client.post(f"/models/{alpha.pk}/delete/", follow=True)  # its message shown
    assert list(Battle.objects.all()) == [kept.battle]
    assert list(Vote.objects.all()) == [kept]
    board = alice_client.get("/arena/leaderboard/completion/").content.decode()
    assert "1 vote on this board" in board and "alpha-secret" not in board
