"""Generation end to end: socket → consumer → gpu_infer worker → Redis Stream → socket."""

import pytest

from tests.webapp.playground.conftest import connected, make_version, receive_until

pytestmark = pytest.mark.django_db(transaction=True)


def _decode(version, ids):
    from lmcore.tokenizer import Tokenizer

    return Tokenizer.load(version.directory).decode(ids)


async def test_it_streams_tokens_then_done(alice_client, version, celery_worker):
    socket = await connected(alice_client)
    params = {"max_new_tokens": 40, "seed": 7, "temperature": 1.0, "top_logprobs": 3}
    await socket.send_json_to({"type": "generate", "request_id": "r1", "model_version": version.pk,
                               "prompt": "the mouse", "params": params})  # fmt: skip
    messages = await receive_until(socket, "r1")
    assert messages[0]["type"] == "started"
    batches = [m for m in messages if m["type"] == "tokens"]
    tokens = [t for m in batches for t in m["tokens"]]
    done = messages[-1]
    assert done["type"] == "done" and done["reason"] in ("max_new_tokens", "end_of_text")
    assert done["stats"]["tokens"] == len(tokens) and done["stats"]["seed"] == 7
    assert done["stats"]["ttft_ms"] > 0
    text = "".join(t["text"] for t in tokens) + done["text"]
    assert text == _decode(version, [t["id"] for t in tokens])
    first = tokens[0]
    assert set(first) == {"id", "bytes", "text", "logprob", "sample_logprob", "top"}
    assert len(first["top"]) == 3 and first["logprob"] <= 0
    assert all(m["last_id"] for m in messages)
    await socket.disconnect()


async def test_it_runs_two_versions_side_by_side_with_one_seed(
    alice_client, alice, version, tiny_checkpoint, celery_worker
):
    from asgiref.sync import sync_to_async

    other = await sync_to_async(make_version)(alice, tiny_checkpoint, version=2)
    socket = await connected(alice_client)
    await socket.send_json_to({"type": "generate", "request_id": "pair", "model_version": version.pk,
                               "compare": other.pk, "prompt": "the cat",
                               "params": {"max_new_tokens": 12, "seed": 3}})  # fmt: skip
    done, ids = {}, {0: [], 1: []}
    while len(done) < 2:
        message = await socket.receive_json_from(timeout=20)
        assert message["type"] != "error", message
        if message["type"] == "tokens":
            ids[message["stream"]] += [t["id"] for t in message["tokens"]]
        elif message["type"] == "done":
            done[message["stream"]] = message
    # The same weights, prompt and seed: the same tokens in both columns.
    assert ids[0] == ids[1] and len(ids[0]) == done[0]["stats"]["tokens"]
    await socket.disconnect()
