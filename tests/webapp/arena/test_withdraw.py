"""A user's own votes are listed and can be withdrawn; a withdrawn vote leaves the board and its
battle cannot be voted again (the names have been seen)."""

import pytest

from tests.webapp.arena.conftest import answered_battle
from webapp.arena.actions import do_vote
from webapp.arena.models import Vote

pytestmark = pytest.mark.django_db


def test_it_lists_and_withdraws_a_vote(alice_client, alice, completion, pair):
    kept = do_vote(answered_battle(alice, completion, *pair, prompt="keep this one"), "left")
    gone = do_vote(answered_battle(alice, completion, *pair, prompt="withdraw this one"), "right")
    listing = alice_client.get("/arena/votes/").content.decode()
    assert "“keep this one”" in listing and "“withdraw this one”" in listing
    assert "alpha-secret v1" in listing  # revealed by the vote
    board = alice_client.get("/arena/leaderboard/completion/").content.decode()
    assert "2 votes on this board" in board

    response = alice_client.post(f"/arena/votes/{gone.pk}/withdraw/", follow=True)
    page = response.content.decode()
    assert "Your vote on “withdraw this one” is withdrawn." in page
    table = page.split('id="votes"', 1)[1]
    assert "“keep this one”" in table and "“withdraw this one”" not in table
    assert list(Vote.objects.all()) == [kept]
    board = alice_client.get("/arena/leaderboard/completion/").content.decode()
    assert "1 vote on this board" in board

    again = alice_client.post(f"/arena/battles/{gone.battle.public_id}/vote/",
                              {"outcome": "left"}, HTTP_ACCEPT="application/json")  # fmt: skip
    assert again.status_code == 409
    battle_page = alice_client.get(gone.battle.get_absolute_url()).content.decode()
    assert "withdrawn" in battle_page and "alpha-secret v1" in battle_page


def test_withdrawing_needs_a_post(alice_client, alice, completion, pair):
    ballot = do_vote(answered_battle(alice, completion, *pair), "tie")
    assert alice_client.get(f"/arena/votes/{ballot.pk}/withdraw/").status_code == 405
    assert Vote.objects.filter(pk=ballot.pk).exists()
