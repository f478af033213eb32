"""Faults under a running generation, with real processes: the gpu_infer worker SIGKILLed,
Redis restarted. The client must get an error (or the rest of its answer), never wait for an
`end` that cannot come; the user's one generation slot must not stay taken; the next request
must work. Services: tests/webapp/playground/faults.py."""

from __future__ import annotations

import time

import pytest

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
