"""Continuous batching through the real stack: many sockets, one inference loop per model.

32 users generate at once with different settings: each answer is what lmcore gives for that
request alone, and they were decoded together; one of them cancelled leaves the others as
they were. A model still loading holds up only its own requests.
"""

import asyncio
import os
import threading
from pathlib import Path

import pytest
from asgiref.sync import sync_to_async
from django.test import Client

from tests.webapp.playground.conftest import (
    connected,
    make_version,
    playground_socket,
    receive_until,
)

pytestmark = pytest.mark.django_db(transaction=True)

PROMPTS = ["the mouse", "the cat ate", "perché", "and the cheese", "città 🙂"]
CANCELLED = 6  # the request that cancels after its first tokens


def settings_for(i: int) -> dict:
    if i == CANCELLED:  # greedy from "the cat ate": 1,000 tokens with no end-of-text
        return {"max_new_tokens": 1000, "temperature": 0}
    if i % 4 == 0:
        return {"max_new_tokens": 24 + i, "temperature": 0, "top_logprobs": i % 5}
    return {"max_new_tokens": 20 + i, "seed": 1000 + i, "temperature": [0.8, 1.0, 1.2][i % 3],
            "top_k": [0, 40][i % 2], "top_p": [1.0, 0.9][i % 3 == 1],
            "repetition_penalty": [1.0, 1.2][i % 5 == 0], "top_logprobs": 2,
            "stop": ["ch"] if i % 7 == 3 else []}  # fmt: skip


def alone(version, prompt: str, params: dict) -> list[int]:
    """The tokens lmcore's Engine gives for this request on its own."""
    from lmcore.checkpoint import load_checkpoint
    from lmcore.engine import Engine
    from lmcore.sampling import SamplingParams

    ck = load_checkpoint(version.directory)
    tok = ck.tokenizer
    engine = Engine(ck.model, tok.bytes_table(), end_ids=[tok.eot_id])
    events = engine.generate(tok.encode(prompt), SamplingParams.from_dict(params))
    return [e["id"] for e in events if e["event"] == "token"]


def logged_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


async def generate(client, rid: str, version_id: int, prompt: str, params: dict, cancel=False):
    socket = playground_socket(client)
    assert (await socket.connect(timeout=60))[0]  # 32 at once on a busy machine: not 1 s
    await socket.send_json_to({"type": "generate", "request_id": rid, "model_version": version_id,
                               "prompt": prompt, "params": params})  # fmt: skip
    messages = []
    while not messages or messages[-1]["type"] not in ("done", "error"):
        messages.append(await socket.receive_json_from(timeout=120))
        if cancel and messages[-1]["type"] == "tokens":
            await socket.send_json_to({"type": "cancel", "request_id": rid})
            cancel = False
    await socket.disconnect()
    return messages


async def test_32_streams_with_different_settings_are_decoded_together_and_exactly(
    django_user_model, tiny_checkpoint, celery_worker
):
    from workers.inference import registry

    # A staff member's production version: every user may play it.
    curator = await sync_to_async(django_user_model.objects.create_user)("curator", is_staff=True)
    version = await sync_to_async(make_version)(curator, tiny_checkpoint, status="production")
    users = [await sync_to_async(django_user_model.objects.create_user)(f"u{i}") for i in range(32)]
    clients = [await sync_to_async(logged_in)(u) for u in users]
    requests = [(PROMPTS[i % 5], settings_for(i)) for i in range(32)]
    results = await asyncio.gather(*(
        generate(c, f"b{i}", version.pk, p, s, cancel=i == CANCELLED)
        for i, (c, (p, s)) in enumerate(zip(clients, requests, strict=True))
    ))  # fmt: skip
    for i, (messages, (prompt, params)) in enumerate(zip(results, requests, strict=True)):
        done = messages[-1]
        assert done["type"] == "done", messages[-1]
        ids = [t["id"] for m in messages if m["type"] == "tokens" for t in m["tokens"]]
        expected = await sync_to_async(alone)(version, prompt, params)
        if (
            i == CANCELLED
        ):  # cancelled after its first tokens: what it got is the start of its answer
            assert done["reason"] == "cancelled" and ids == expected[: len(ids)]
            assert len(ids) < len(expected)
        else:
            assert ids == expected, f"request {i} ({params}) differs from its run alone"
            assert done["reason"] in ("max_new_tokens", "stop", "end_of_text")
            assert done["stats"]["tokens"] == len(ids)
    loop = registry.loops[version.pk]
    assert loop.scheduler.peak_batch >= 8  # they really shared forwards


async def test_a_model_that_is_loading_holds_up_only_its_own_requests(
    alice, bob, alice_client, tiny_checkpoint, celery_worker
):
    ready = await sync_to_async(make_version)(alice, tiny_checkpoint)
    slow = await sync_to_async(make_version)(bob, tiny_checkpoint, name="slow")
    # The slow version's tokenizer.json is a FIFO: loading blocks in a real read until we write.
    fifo = Path(slow.directory) / "tokenizer.json"
    content = fifo.read_bytes()
    fifo.unlink()
    os.mkfifo(fifo)
    bob_socket = await connected(await sync_to_async(logged_in)(bob))
    await bob_socket.send_json_to({"type": "generate", "request_id": "s1",
                                   "model_version": slow.pk, "prompt": "the",
                                   "params": {"max_new_tokens": 5, "seed": 1}})  # fmt: skip
    waiting = await receive_until(bob_socket, "s1", kinds=("loading",))
    assert [m["type"] for m in waiting] == ["started", "loading"]
    # Meanwhile another model serves a whole answer.
    greedy = {"max_new_tokens": 30, "temperature": 0}  # "the mouse": no end-of-text early
    answer = await generate(alice_client, "a1", ready.pk, "the mouse", greedy)
    assert answer[-1]["type"] == "done" and answer[-1]["stats"]["tokens"] == 30

    # The loader is reading the FIFO now (else this fails with ENXIO rather than waiting).
    writer = os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)
    os.set_blocking(writer, True)
    threading.Thread(
        target=lambda: (os.write(writer, content), os.close(writer)), daemon=True
    ).start()
    rest = await receive_until(bob_socket, "s1")
    assert rest[-1]["type"] == "done" and 1 <= rest[-1]["stats"]["tokens"] <= 5
    await bob_socket.disconnect()
