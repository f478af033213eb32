"""Stop halts the worker within a few tokens; a client that reconnects resumes the stream."""

import asyncio

import pytest

from tests.webapp.playground.conftest import connected, receive_until

pytestmark = pytest.mark.django_db(transaction=True)

LONG = {"max_new_tokens": 1000, "temperature": 0}


async def test_it_stops_generating_when_cancelled(alice_client, version, celery_worker):
    socket = await connected(alice_client)
    await socket.send_json_to({"type": "generate", "request_id": "long", "model_version": version.pk,
                               "prompt": "the", "params": LONG})  # fmt: skip
    first = await receive_until(socket, "long", kinds=("tokens",))
    received = sum(len(m.get("tokens", [])) for m in first)
    await socket.send_json_to({"type": "cancel", "request_id": "long"})
    rest = await receive_until(socket, "long")
    done = rest[-1]
    assert done["type"] == "done" and done["reason"] == "cancelled", done
    after = sum(len(m.get("tokens", [])) for m in rest)
    assert done["stats"]["tokens"] == received + after < 1000
    # The slot is free again at once: the next generation is admitted and runs.
    await socket.send_json_to({"type": "generate", "request_id": "next", "model_version": version.pk,
                               "prompt": "the", "params": {"max_new_tokens": 3}})  # fmt: skip
    final = (await receive_until(socket, "next"))[-1]
    assert final["type"] == "done", final
    await socket.disconnect()


async def test_it_resumes_after_a_reconnect(alice_client, version, celery_worker):
    socket = await connected(alice_client)
    await socket.send_json_to({"type": "generate", "request_id": "again", "model_version": version.pk,
                               "prompt": "the cat", "params": {"max_new_tokens": 300, "seed": 1}})  # fmt: skip
    before = await receive_until(socket, "again", kinds=("tokens",))
    await socket.disconnect()  # mid-answer: the worker carries on writing the stream
    await asyncio.sleep(0.2)
    socket = await connected(alice_client)
    await socket.send_json_to(
        {"type": "resume", "request_id": "again", "last_id": before[-1]["last_id"]}
    )
    after = await receive_until(socket, "again")
    ids = [t["id"] for m in before + after if m["type"] == "tokens" for t in m["tokens"]]
    assert after[-1]["type"] == "done" and after[-1]["stats"]["tokens"] == len(ids)
    # From the beginning ("0-0"): the same entries again, in order.
    await socket.send_json_to({"type": "resume", "request_id": "again", "last_id": "0-0"})
    replay = await receive_until(socket, "again")
    assert [t["id"] for m in replay if m["type"] == "tokens" for t in m["tokens"]] == ids
    await socket.send_json_to({"type": "resume", "request_id": "nope", "last_id": "0-0"})
    error = await socket.receive_json_from(timeout=5)
    assert error["type"] == "error" and "unknown or expired" in error["message"]
    await socket.disconnect()
