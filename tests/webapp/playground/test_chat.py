"""Chat mode end to end: the history goes through the chat template on the real worker, and
the answer is saved and reopened as a conversation."""

import json

import pytest

from tests.webapp.playground.conftest import connected, receive_until

pytestmark = pytest.mark.django_db(transaction=True)


async def test_it_answers_a_chat_and_saves_it(alice_client, version, celery_worker):
    from asgiref.sync import sync_to_async

    chat = [{"role": "system", "content": "be brief"}, {"role": "user", "content": "the mouse?"}]
    socket = await connected(alice_client)
    params = {"max_new_tokens": 12, "seed": 1}
    await socket.send_json_to({"type": "generate", "request_id": "c1", "model_version": version.pk,
                               "chat": chat, "params": params})  # fmt: skip
    messages = await receive_until(socket, "c1")
    await socket.disconnect()
    done = messages[-1]
    assert done["type"] == "done", done
    tokens = [t for m in messages if m["type"] == "tokens" for t in m["tokens"]]
    assert done["stats"]["tokens"] == len(tokens) > 0
    answer = "".join(t["text"] for t in tokens) + done["text"]

    history = [*chat, {"role": "assistant", "content": answer}]
    body = json.dumps({"mode": "chat", "model_version": version.pk, "params": params,
                       "messages": history})  # fmt: skip
    post = sync_to_async(alice_client.post)
    saved = (await post("/playground/conversations/", body, content_type="application/json")).json()
    assert saved["title"] == "the mouse?" and saved["messages"] == history


LONG_CHAT = [{"role": "system", "content": "be brief"}] + [
    {"role": role, "content": f"the mouse ate the cheese {i}"}
    for i in range(8)
    for role in ("user", "assistant")
] + [{"role": "user", "content": "and the cat?"}]  # fmt: skip


async def _chat(client, version, chat, **params) -> list[dict]:
    socket = await connected(client)
    await socket.send_json_to({"type": "generate", "request_id": "long", "chat": chat,
                               "model_version": version.pk, "params": params})  # fmt: skip
    messages = await receive_until(socket, "long")
    await socket.disconnect()
    return messages


async def test_a_chat_longer_than_the_context_leaves_out_its_oldest_turns(
    alice_client, version, celery_worker
):
    # Past the end of turn, so that the reply (random weights) runs until the context is full.
    params = {"max_new_tokens": 200, "temperature": 0, "stop_at_end_of_text": False}
    done = (await _chat(alice_client, version, LONG_CHAT, **params))[-1]
    assert done["type"] == "done", done
    stats = done["stats"]
    # context 64, room for a reply: min(200, 64 // 2); whole turns go, the system message stays
    assert stats["dropped"] > 0 and stats["dropped"] % 2 == 0 and stats["prompt_tokens"] <= 32
    assert done["reason"] == "context_full"  # not max_new_tokens: 200 were asked
    assert stats["tokens"] == 64 - stats["prompt_tokens"]


async def test_a_short_chat_is_not_cut_and_asks_for_no_more_than_it_gets(
    alice_client, version, celery_worker
):
    chat = [{"role": "user", "content": "the mouse?"}]
    params = {"max_new_tokens": 5, "temperature": 0, "stop_at_end_of_text": False}
    done = (await _chat(alice_client, version, chat, **params))[-1]
    assert done["stats"]["dropped"] == 0 and done["reason"] == "max_new_tokens"


async def test_a_message_too_long_for_the_context_is_refused_with_its_size(
    alice_client, version, celery_worker
):
    chat = [{"role": "user", "content": "the mouse ate the cheese " * 30}]
    error = (await _chat(alice_client, version, chat, max_new_tokens=10))[-1]
    assert error["type"] == "error"
    assert "the last message alone makes a prompt of" in error["message"]
    assert "the model's context is 64 tokens and 10 are kept for the reply" in error["message"]
