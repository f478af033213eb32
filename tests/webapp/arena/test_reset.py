"""Staff reset a board: its votes go, every user's; other boards keep theirs."""

import pytest

from tests.webapp.arena.conftest import answered_battle, make_version
from webapp.arena.actions import do_vote
from webapp.arena.models import Battle, Vote

pytestmark = pytest.mark.django_db


@pytest.fixture
def votes_on_two_boards(alice, completion, chat_board, pair, tiny_checkpoint):
    chats = [make_version(alice, tiny_checkpoint, name=f"c{i}", is_chat=True) for i in range(2)]
    for _ in range(3):
        do_vote(answered_battle(alice, completion, *pair), "left")
    do_vote(answered_battle(alice, chat_board, *chats), "tie")


def test_staff_reset_a_board(client, admin_user, completion, votes_on_two_boards):
    client.force_login(admin_user)
    confirm = client.get("/arena/leaderboard/completion/reset/").content.decode()
    assert "Its 3 votes are deleted, every user" in confirm
    response = client.post("/arena/leaderboard/completion/reset/", follow=True)
    assert "The Completion board is reset: 3 vote(s) deleted." in response.content.decode()
    assert not Vote.objects.filter(battle__board=completion).exists()
    assert Vote.objects.filter(battle__board__slug="chat").count() == 1
    assert Battle.objects.filter(board=completion).count() == 3  # battles stay
    assert "0 votes on this board" in response.content.decode()


def test_only_staff_reset(alice_client, completion, votes_on_two_boards):
    response = alice_client.post("/arena/leaderboard/completion/reset/")
    assert response.status_code == 302 and "/admin/login/" in response["Location"]
    assert Vote.objects.filter(battle__board=completion).count() == 3
    assert (
        "Reset this board"
        not in alice_client.get("/arena/leaderboard/completion/").content.decode()
    )
