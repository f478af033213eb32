"""Starting a battle: the pair is drawn among the versions the user may use, like with like
(chat with chat, base with base), in random order, with one seed; bad input is said."""

import pytest

from tests.webapp.arena.conftest import make_version
from webapp.arena.actions import generation_request
from webapp.arena.models import Battle

pytestmark = pytest.mark.django_db


def _start(client, board, **fields):
    data = {"board": board.slug, "prompt": "the mouse", "temperature": 0.8, "top_p": 0.95,
            "max_new_tokens": 20, **fields}  # fmt: skip
    return client.post("/arena/", data)


def test_it_draws_two_versions_of_the_board_kind_in_random_order(
    alice_client, alice, completion, pair, tiny_checkpoint
):
    make_version(alice, tiny_checkpoint, name="chatty", is_chat=True)  # never on this board
    orders = set()
    for _ in range(24):
        response = _start(alice_client, completion)
        assert response.status_code == 302
        battle = Battle.objects.get(public_id=response["Location"].split("/")[-2])
        assert {battle.left, battle.right} == set(pair)
        orders.add((battle.left_id, battle.right_id))
    assert len(orders) == 2  # each side holds each version sometimes: 2⁻²³ to fail by chance


def test_picked_versions_answer_on_drawn_sides_with_one_seed(alice_client, completion, pair):
    response = _start(alice_client, completion, first=pair[0].pk, second=pair[1].pk)
    battle = Battle.objects.get()
    assert response["Location"] == battle.get_absolute_url() and battle.picked
    request = generation_request(battle)
    assert request["version_ids"] == [battle.left_id, battle.right_id]
    assert request["params"] == {"temperature": 0.8, "top_p": 0.95, "max_new_tokens": 20,
                                 "seed": battle.params["seed"]}  # fmt: skip
    assert request["prompt"] == "the mouse" and request["chat"] is None


def test_a_chat_board_sends_the_prompt_as_a_message(
    alice_client, alice, chat_board, tiny_checkpoint
):
    for name in ("chat-one", "chat-two"):
        make_version(alice, tiny_checkpoint, name=name, is_chat=True)
    assert _start(alice_client, chat_board).status_code == 302
    request = generation_request(Battle.objects.get())
    assert request["chat"] == [{"role": "user", "content": "the mouse"}]
    assert request["prompt"] == ""


def test_it_pairs_only_like_with_like(
    alice_client, alice, chat_board, completion, pair, tiny_checkpoint
):
    chatty = make_version(alice, tiny_checkpoint, name="chatty", is_chat=True)
    response = _start(alice_client, completion, first=chatty.pk)
    assert response.status_code == 400
    assert "chatty v1 is a chat version; the Completion board pairs completion versions" in (
        response.content.decode()
    )
    response = _start(alice_client, chat_board)  # one chat version: no pair
    assert response.status_code == 400
    assert "needs two chat versions you may use, and you have 1" in response.content.decode()
    assert not Battle.objects.exists()


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"prompt": "   "}, "Type a prompt: both models answer it."),
        ({"temperature": 9}, "Ensure this value is less than or equal to 5."),
        ({"max_new_tokens": 100_000}, "Ensure this value is less than or equal to"),
        ({"first": "999999"}, "Select a valid choice."),
    ],
)
def test_bad_input_is_said_and_kept(alice_client, completion, pair, fields, message):
    response = _start(alice_client, completion, **fields)
    assert response.status_code == 400
    assert message in response.content.decode()
    assert not Battle.objects.exists()


def test_the_same_version_twice_is_refused(alice_client, completion, pair):
    response = _start(alice_client, completion, first=pair[0].pk, second=pair[0].pk)
    assert response.status_code == 400
    assert "Pick two different versions, or leave one random." in response.content.decode()


def test_the_page_offers_the_boards_and_the_battles_waiting_for_a_vote(
    alice_client, alice, completion, chat_board, pair
):
    Battle.objects.create(owner=alice, board=completion, left=pair[0], right=pair[1],
                          prompt="still to judge", params={"seed": 1})  # fmt: skip
    page = alice_client.get("/arena/?board=chat").content.decode()
    assert '<option value="chat" selected>Chat</option>' in page
    assert "Start battle" in page and "“still to judge”" in page
