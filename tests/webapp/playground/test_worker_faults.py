"""Faults under a running generation, with real processes: the gpu_infer worker SIGKILLed,
Redis restarted. The client must get an error (or the rest of its answer), never wait for an
`end` that cannot come; the user's one generation slot must not stay taken; the next request
must work. Services: tests/webapp/playground/faults.py."""

from __future__ import annotations

import contextlib
import time

import pytest
import redis

from tests.webapp.playground.conftest import connected, receive_until
from tests.webapp.playground.faults import InferStack, point_web_at

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]
LONG = {"max_new_tokens": 100_000, "temperature": 1.0, "seed": 1}
SHORT = {"max_new_tokens": 8, "temperature": 1.0, "seed": 2}


@pytest.fixture
def stack(tmp_path, settings, monkeypatch):
    stack = InferStack(tmp_path)
    try:
        point_web_at(stack, settings, monkeypatch)
        yield stack
    finally:
        stack.close()


def _generate(version, rid, params):
    return {"type": "generate", "request_id": rid, "model_version": version.pk,
            "prompt": "the mouse", "params": params}  # fmt: skip


async def _until_tokens(socket, rid, timeout=60.0):
    messages = await receive_until(socket, rid, kinds=("tokens", "done"), timeout=timeout)
    assert messages[-1]["type"] == "tokens", messages[-1]


async def test_a_worker_killed_mid_generation_ends_the_stream_and_frees_the_slot(
    alice_client, version, stack, settings
):
    worker = stack.start_worker()
    socket = await connected(alice_client)
    await socket.send_json_to(_generate(version, "long", LONG))
    await _until_tokens(socket, "long")  # the model is loaded and answering
    stack.kill(worker)
    killed_at = time.monotonic()
    messages = await receive_until(socket, "long", timeout=settings.PLAYGROUND_PICKUP_TIMEOUT_S)
    waited = time.monotonic() - killed_at
    last = messages[-1]
    assert last["type"] == "error", (last, stack.log())
    assert "inference worker stopped while answering" in last["message"]
    assert waited < settings.PLAYGROUND_PICKUP_TIMEOUT_S
    assert stack.keys("bottega:pg:active:*") == []  # the user's slot is free at once
    stack.start_worker()  # a fresh worker (a supervisor's restart): the user generates again
    await socket.send_json_to(_generate(version, "again", SHORT))
    again = await receive_until(socket, "again", timeout=60)
    assert again[-1]["type"] == "done", (again[-1], stack.log())
    await socket.disconnect()
    print(f"\nworker SIGKILL -> client error after {waited:.1f} s (liveness TTL 3 s)")


async def _until_end_or_drop(socket, rid, timeout):
    """The request's last message (done or error), or None when the socket itself dropped
    (the page then shows "Disconnected; reconnecting…" and reconnects)."""
    try:
        return (await receive_until(socket, rid, timeout=timeout))[-1]
    except (ConnectionError, redis.ConnectionError):  # the consumer ended on the lost
        return None  # connection (channels' layer receive): the socket is closed


async def test_a_redis_restart_mid_generation_frees_the_slot_and_the_next_request_works(
    alice_client, version, stack, settings
):
    stack.start_worker()
    socket = await connected(alice_client)
    await socket.send_json_to(_generate(version, "long", LONG))
    await _until_tokens(socket, "long")
    stack.restart_redis()  # no persistence: the stream, the slot and the queue are gone
    restarted_at = time.monotonic()
    last = await _until_end_or_drop(socket, "long", settings.PLAYGROUND_PICKUP_TIMEOUT_S)
    ended = time.monotonic() - restarted_at
    assert last is None or last["type"] == "error", last
    assert stack.keys("bottega:pg:active:*") == []  # no slot stays taken
    again = await connected(alice_client)  # as the page does: reconnect, then carry on
    await again.send_json_to({"type": "cancel", "request_id": "long"})  # stop the orphan
    await again.send_json_to(_generate(version, "after", SHORT))
    after = await receive_until(again, "after", timeout=60)
    assert after[-1]["type"] == "done", (after[-1], stack.log())
    await again.disconnect()
    with contextlib.suppress(redis.ConnectionError):
        await socket.disconnect()  # re-raises the consumer's end if it dropped
    outcome = "socket dropped" if last is None else f"error {last['message']!r}"
    print(f"\nRedis restart -> {outcome} after {ended:.1f} s; next request done")


async def test_a_generation_whose_stream_vanished_stops(alice_client, version, stack):
    """Redis restarted (no persistence) while the worker was between two writes, as during a
    long forward pass: the stream's key is gone, and its reader with it. The worker must stop
    the generation rather than write it into a new key up to its token limit: with one batch
    slot, the next request would wait behind it."""
    worker = stack.start_worker(BOTTEGA_PLAYGROUND_MAX_BATCH="1")
    socket = await connected(alice_client)
    greedy = {"max_new_tokens": 100_000, "temperature": 0}  # never ends by itself
    await socket.send_json_to(_generate(version, "orphan", greedy))
    await _until_tokens(socket, "orphan")
    await socket.disconnect()  # nobody follows it now (closing a socket stops no generation)
    stack.pause(worker)
    try:
        stack.restart_redis()
    finally:
        stack.resume(worker)
    again = await connected(alice_client)  # no cancel sent: the worker stops it by itself
    await again.send_json_to(_generate(version, "next", SHORT))
    after = await receive_until(again, "next", timeout=60)
    assert after[-1]["type"] == "done", (after[-1], stack.log())
    assert "token stream bottega:pg:" in stack.log() and "is gone" in stack.log()
    assert stack.keys("bottega:pg:*:orphan") == []  # not made again by the orphan's tokens
    await again.disconnect()
