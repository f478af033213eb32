"""The vote: open once both answers have ended, one per pair of answers (the database says so
too), and it reveals the names."""

import re

import pytest
from django.db import IntegrityError, transaction

from tests.webapp.arena.conftest import answered_battle, make_version
from webapp.arena.models import Battle, Vote

pytestmark = pytest.mark.django_db

JSON = {"HTTP_ACCEPT": "application/json"}


def _vote(client, battle, outcome="left", **extra):
    return client.post(f"/arena/battles/{battle.public_id}/vote/", {"outcome": outcome}, **extra)


def test_a_vote_reveals_who_answered(alice_client, alice, completion, pair):
    battle = answered_battle(alice, completion, *pair)
    page = alice_client.get(battle.get_absolute_url()).content.decode()
    assert "alpha-secret" not in page and "beta-secret" not in page
    assert " answer a" in page and "Model A" in page  # the answers, unnamed

    response = _vote(alice_client, battle, "right", **JSON)
    assert response.status_code == 201
    reveal = response.json()
    assert reveal["outcome"] == "right"
    assert "alpha-secret v1" in reveal["html"] and "beta-secret v1" in reveal["html"]
    assert (
        f'data-reveal="A"><a href="/models/{battle.left_id}/">{battle.left.name} v1'
        in reveal["html"]
    )
    assert Vote.objects.get(battle=battle).outcome == "right"
    page = alice_client.get(battle.get_absolute_url()).content.decode()
    assert "alpha-secret v1" in page and "B is better" in page


def test_before_the_vote_the_page_does_not_depend_on_who_answers(
    alice_client, alice, completion, pair, tiny_checkpoint
):
    others = [make_version(alice, tiny_checkpoint, name=n, version=7) for n in ("x", "y")]
    pages = []
    for left, right in (pair, others):
        battle = answered_battle(alice, completion, left, right)
        page = alice_client.get(battle.get_absolute_url()).content.decode()
        page = page.replace(str(battle.public_id), "BATTLE")
        pages.append(re.sub(r'name="csrfmiddlewaretoken" value="\w+"', "", page))
    assert pages[0] == pages[1]  # no id, name, owner or figure of theirs: only the answers


def test_one_vote_per_pair_of_answers(alice_client, alice, completion, pair):
    battle = answered_battle(alice, completion, *pair)
    assert _vote(alice_client, battle, "left", **JSON).status_code == 201
    second = _vote(alice_client, battle, "right", **JSON)
    assert second.status_code == 409
    assert (
        second.json()["error"] == "This battle already has its vote: one vote per pair of answers."
    )
    assert Vote.objects.get(battle=battle).outcome == "left"
    with pytest.raises(IntegrityError), transaction.atomic():  # the database enforces it too
        Vote.objects.create(battle=battle, outcome="tie")


def test_no_vote_before_both_answers_have_ended(alice_client, alice, completion, pair):
    battle = Battle.objects.create(owner=alice, board=completion, left=pair[0], right=pair[1],
                                   prompt="p", params={"seed": 1})  # fmt: skip
    response = _vote(alice_client, battle, **JSON)
    assert response.status_code == 409
    assert response.json()["error"] == "Wait until both answers have ended, then vote."
    assert not Vote.objects.exists()
    battle.refresh_from_db()
    assert battle.revealed_at is None


def test_a_bad_vote_is_said(alice_client, alice, completion, pair):
    battle = answered_battle(alice, completion, *pair)
    response = _vote(alice_client, battle, "left-ish", **JSON)
    assert response.status_code == 400
    assert response.json()["error"] == "Choose one: A is better, B is better, Tie or Both are bad."
    battle.refresh_from_db()
    assert battle.revealed_at is None and not Vote.objects.exists()


def test_without_javascript_the_form_posts_and_the_page_shows_the_names(
    alice_client, alice, completion, pair
):
    battle = answered_battle(alice, completion, *pair)
    response = _vote(alice_client, battle, "both_bad", follow=True)
    page = response.content.decode()
    assert response.redirect_chain[-1][0] == battle.get_absolute_url()
    assert "Both are bad" in page and "alpha-secret v1" in page
