"""A battle's answers through the real stack: socket → consumer → gpu_infer worker → Redis
Stream → socket, with nothing in the messages that names a version before the vote."""

import json
import shutil

import pytest
import redis
from asgiref.sync import sync_to_async

from tests.webapp.arena.conftest import arena_socket, make_version, until
from tests.webapp.playground.conftest import connected, receive_until
from webapp.arena.models import Battle
from webapp.playground.streams import stream_key

pytestmark = pytest.mark.django_db(transaction=True)

# Every key a message may carry before the vote: no version id, name, token id or figure.
ALLOWED = {
    "battle": {"type", "state", "answers"}, "started": {"type", "last_id"},
    "loading": {"type", "last_id"}, "queued": {"type", "stream", "position", "last_id"},
    "tokens": {"type", "stream", "text", "last_id"},
    "done": {"type", "stream", "reason", "text", "last_id"}, "answered": {"type"},
}  # fmt: skip
PARAMS = {"temperature": 1.0, "top_p": 1.0, "max_new_tokens": 16, "seed": 5}


def _battle(owner, board, left, right, prompt="the cat") -> Battle:
    return Battle.objects.create(owner=owner, board=board, left=left, right=right,
                                 prompt=prompt, params=PARAMS)  # fmt: skip


async def _answer(client, battle) -> list[dict]:
    socket = arena_socket(client, battle)
    assert (await socket.connect())[0]
    messages = [await socket.receive_json_from(timeout=10)]
    await socket.send_json_to({"type": "follow", "last_id": "0-0"})
    messages += await until(socket, ("answered",))
    await socket.disconnect()
    return messages


def _texts(messages) -> list[str]:
    texts = ["", ""]
    for m in messages:
        if m["type"] in ("tokens", "done"):
            texts[m["stream"]] += m["text"]
    return texts


async def test_it_streams_both_answers_unnamed_then_opens_the_vote(
    alice_client, alice, completion, pair, celery_worker
):
    battle = await sync_to_async(_battle)(alice, completion, *pair)
    messages = await _answer(alice_client, battle)
    assert messages[0] == {"type": "battle", "state": "waiting", "answers": None}
    assert [m["type"] for m in messages][-1] == "answered", messages
    for m in messages:
        assert set(m) <= ALLOWED[m["type"]], m
    raw = json.dumps(messages)
    assert "alpha-secret" not in raw and "beta-secret" not in raw
    # Two copies of one checkpoint, one prompt, one seed: the same answer on both sides.
    texts = _texts(messages)
    assert texts[0] == texts[1] != ""

    await battle.arefresh_from_db()
    assert [a["text"] for a in battle.answers] == texts
    assert all(a["stats"]["seed"] == 5 and a["stats"]["tokens"] > 0 for a in battle.answers)
    socket = arena_socket(alice_client, battle)  # a reload: the kept answers, no stream needed
    assert (await socket.connect())[0]
    snapshot = await socket.receive_json_from(timeout=10)
    assert snapshot["state"] == "answered" and [a["text"] for a in snapshot["answers"]] == texts
    await socket.disconnect()
    post = sync_to_async(alice_client.post)
    vote = await post(f"/arena/battles/{battle.public_id}/vote/", {"outcome": "tie"},
                      HTTP_ACCEPT="application/json")  # fmt: skip
    assert vote.status_code == 201 and "alpha-secret v1" in vote.json()["html"]


async def test_a_chat_battle_answers_as_the_playground_s_chat_does(
    alice_client, alice, chat_board, tiny_checkpoint, celery_worker
):
    versions = [await sync_to_async(make_version)(alice, tiny_checkpoint, name=n, is_chat=True)
                for n in ("chat-a", "chat-b")]  # fmt: skip
    battle = await sync_to_async(_battle)(alice, chat_board, *versions, prompt="the mouse?")
    texts = _texts(await _answer(alice_client, battle))

    socket = await connected(alice_client)
    chat = [{"role": "user", "content": "the mouse?"}]
    await socket.send_json_to({"type": "generate", "request_id": "pg", "chat": chat,
                               "model_version": versions[0].pk, "params": PARAMS})  # fmt: skip
    messages = await receive_until(socket, "pg")
    await socket.disconnect()
    tokens = [t for m in messages if m["type"] == "tokens" for t in m["tokens"]]
    assert texts[0] == "".join(t["text"] for t in tokens) + messages[-1]["text"]


async def test_answers_lost_with_their_stream_come_again_the_same(
    alice_client, alice, completion, pair, celery_worker, services
):
    battle = await sync_to_async(_battle)(alice, completion, *pair)
    first = _texts(await _answer(alice_client, battle))
    await Battle.objects.filter(pk=battle.pk).aupdate(answers=None)  # as if never kept
    with redis.Redis.from_url(services) as conn:
        conn.delete(stream_key(alice.pk, battle.request_id))  # expired
    messages = await _answer(alice_client, battle)
    assert messages[1]["type"] == "started" and _texts(messages) == first


async def test_a_worker_error_does_not_name_the_version(
    alice_client, alice, completion, pair, celery_worker
):
    await sync_to_async(shutil.rmtree)(pair[0].directory)  # it cannot be loaded
    battle = await sync_to_async(_battle)(alice, completion, *pair)
    error = (await _answer(alice_client, battle))[-1]
    assert error["type"] == "error", error
    assert error["message"].startswith("model A: the model cannot be loaded"), error
    assert "alpha-secret" not in error["message"]
    await battle.arefresh_from_db()
    assert battle.answers is None


async def test_another_generation_running_is_said(alice_client, alice, completion, pair, services):
    battle = await sync_to_async(_battle)(alice, completion, *pair)
    with redis.Redis.from_url(services) as conn:
        conn.set(f"bottega:pg:active:{alice.pk}", "elsewhere", ex=30)
    error = (await _answer(alice_client, battle))[-1]
    assert error == {"type": "error", "message": error["message"]}
    assert "you already have a generation running (elsewhere)" in error["message"]
