"""Another user cannot see or vote on a private version: bob never draws alice's, cannot pick
it, her battles are 404 to him (pages, vote, socket, withdraw), and the leaderboard names only
versions he may use."""

import pytest
from asgiref.sync import sync_to_async

from tests.webapp.arena.conftest import answered_battle, arena_socket, make_version
from webapp.arena.actions import do_vote
from webapp.arena.models import Battle, Vote

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def bob_client(bob):
    from django.test import Client

    client = Client()
    client.force_login(bob)
    return client


def _start(client, board, **fields):
    data = {"board": board.slug, "prompt": "hi", "temperature": 1, "top_p": 1,
            "max_new_tokens": 5, **fields}  # fmt: skip
    return client.post("/arena/", data)


def test_bob_never_draws_or_picks_alice_s_private_version(
    bob_client, bob, completion, pair, tiny_checkpoint
):
    mine = [make_version(bob, tiny_checkpoint, name=f"bob-{i}") for i in range(2)]
    for _ in range(10):
        assert _start(bob_client, completion).status_code == 302
    drawn = {v for b in Battle.objects.filter(owner=bob) for v in (b.left, b.right)}
    assert drawn == set(mine)
    response = _start(bob_client, completion, first=pair[0].pk)
    assert response.status_code == 400 and "Select a valid choice." in response.content.decode()
    assert "alpha-secret" not in bob_client.get("/arena/").content.decode()


async def test_alice_s_battle_is_404_to_bob_everywhere(
    alice_client, alice, bob_client, completion, pair
):
    battle = await sync_to_async(answered_battle)(alice, completion, *pair)
    get, post = sync_to_async(bob_client.get), sync_to_async(bob_client.post)
    assert (await get(battle.get_absolute_url())).status_code == 404
    vote = await post(f"/arena/battles/{battle.public_id}/vote/", {"outcome": "left"})
    assert vote.status_code == 404
    assert not await Vote.objects.filter(battle=battle).aexists()
    socket = arena_socket(bob_client, battle)
    connected, code = await socket.connect()
    assert not connected and code == 4404

    ballot = await sync_to_async(do_vote)(battle, "left")
    assert (await post(f"/arena/votes/{ballot.pk}/withdraw/")).status_code == 404
    assert await Vote.objects.filter(pk=ballot.pk).aexists()
    assert "alpha-secret" not in (await get("/arena/votes/")).content.decode()


def test_the_leaderboard_names_only_versions_the_viewer_may_use(
    alice_client, alice, bob_client, completion, pair
):
    for _ in range(3):
        do_vote(answered_battle(alice, completion, *pair), "left")
    mine = alice_client.get("/arena/leaderboard/completion/").content.decode()
    assert "alpha-secret v1" in mine and "beta-secret v1" in mine
    theirs = bob_client.get("/arena/leaderboard/completion/").content.decode()
    assert "alpha-secret" not in theirs and "beta-secret" not in theirs
    assert "2 rated versions are not shared with you and not shown" in theirs


def test_a_version_no_longer_shared_takes_its_battles_out_of_view(
    bob_client, bob, admin_user, completion, tiny_checkpoint
):
    shared = make_version(admin_user, tiny_checkpoint, name="house", status="production")
    own = make_version(bob, tiny_checkpoint, name="bob-own")
    battle = answered_battle(bob, completion, shared, own)
    assert bob_client.get(battle.get_absolute_url()).status_code == 200
    shared.status = "candidate"
    shared.save(update_fields=["status"])
    assert bob_client.get(battle.get_absolute_url()).status_code == 404
    vote = bob_client.post(f"/arena/battles/{battle.public_id}/vote/", {"outcome": "left"})
    assert vote.status_code == 404 and not Vote.objects.exists()
