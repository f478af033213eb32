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
