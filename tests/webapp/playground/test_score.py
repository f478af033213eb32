"""Score mode through the socket: per-token logprob and loss, totals that add up."""

import math

import pytest

from tests.webapp.playground.conftest import connected, receive_until

pytestmark = pytest.mark.django_db(transaction=True)


async def _score(socket, version, request_id, text):
    await socket.send_json_to({"type": "score", "request_id": request_id,
                               "model_version": version.pk, "text": text})  # fmt: skip
    result = (await receive_until(socket, request_id, kinds=("score",)))[-1]
    assert result["type"] == "score", result
    return result


async def test_it_scores_text_token_by_token(alice_client, version, celery_worker):
    socket = await connected(alice_client)
    text = "the mouse ate the cheese"
    result = await _score(socket, version, "s1", text)
    tokens = result["tokens"]
    assert "".join(t["text"] for t in tokens) == text
    assert tokens[0]["logprob"] is None and tokens[0]["loss"] is None  # no context to condition on
    scored = [t["logprob"] for t in tokens[1:]]
    assert all(lp < 0 and t["loss"] == -lp for lp, t in zip(scored, tokens[1:], strict=True))
    assert math.isclose(math.fsum(scored), result["total_logprob"], rel_tol=1e-9)
    assert math.isclose(result["bits"], -result["total_logprob"] / math.log(2))
    assert math.isclose(result["bpb"], result["bits"] / result["bytes"])
    assert result["scored"] == len(tokens) - 1
    # The same figures as lmcore's own score of the same ids.
    from lmcore.checkpoint import load_checkpoint
    from lmcore.score import score

    ck = load_checkpoint(version.directory)
    direct = score(ck.model, ck.tokenizer.bytes_table(), ck.tokenizer.encode(text))
    assert math.isclose(direct["total_logprob"], result["total_logprob"], rel_tol=1e-5)
    # A second text in the same session: the two can be compared.
    other = await _score(socket, version, "s2", "the the mouse ate cheese")
    assert other["total_logprob"] != result["total_logprob"]
    await socket.disconnect()


async def test_it_explains_texts_too_short_to_score(alice_client, version, celery_worker):
    socket = await connected(alice_client)
    await socket.send_json_to({"type": "score", "request_id": "s", "model_version": version.pk,
                               "text": "a"})  # fmt: skip
    reply = (await receive_until(socket, "s", kinds=("score",)))[-1]
    assert reply["type"] == "error" and reply["message"].startswith("nothing to score")
    await socket.send_json_to({"type": "score", "request_id": "e", "model_version": version.pk,
                               "text": ""})  # fmt: skip
    assert (await socket.receive_json_from(timeout=5))["message"].startswith("text is empty")
    await socket.disconnect()
