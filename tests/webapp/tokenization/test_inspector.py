"""The tokenizer page's JSON endpoints: tokenize, merge trace, vocabulary."""

import json

import pytest
from django.urls import reverse

from lmcore.inspect_tokens import MAX_TRACE_BYTES
from webapp.tokenization.models import TokenizerRun

pytestmark = pytest.mark.django_db(transaction=True)


def _post(client, name, run, body):
    url = reverse(f"tokenization:{name}", args=[run.pk])
    return client.post(url, json.dumps(body), content_type="application/json")


def test_it_tokenizes_text_with_ids_and_bytes(alice_client, tokenizer_run):
    text = "the mouse ate the cheese 🙂"
    body = _post(alice_client, "encode", tokenizer_run, {"text": text}).json()
    assert "".join(t["text"] for t in body["tokens"]) == text
    assert bytes.fromhex("".join(t["hex"] for t in body["tokens"])) == text.encode()
    assert body["bytes"] == len(text.encode())


def test_typed_special_tokens_stay_plain_text(alice_client, tokenizer_run):
    body = _post(alice_client, "encode", tokenizer_run, {"text": "<|endoftext|>"}).json()
    assert len(body["tokens"]) > 1
    assert "".join(t["text"] for t in body["tokens"]) == "<|endoftext|>"


def test_the_merge_trace_ends_at_the_tokens(alice_client, tokenizer_run):
    word = "cheese"
    steps = _post(alice_client, "trace", tokenizer_run, {"text": word}).json()["steps"]
    encoded = _post(alice_client, "encode", tokenizer_run, {"text": word}).json()["tokens"]
    assert [t["text"] for t in steps[0]["tokens"]] == list(word)  # single bytes (ASCII)
    assert steps[-1]["tokens"] == encoded
    ranks = [s["rank"] for s in steps[1:]]
    assert ranks == sorted(ranks)


def test_it_pages_and_searches_the_vocabulary(alice_client, tokenizer_run):
    url = reverse("tokenization:vocab", args=[tokenizer_run.pk])
    first = alice_client.get(url).json()
    assert first["count"] == tokenizer_run.result["vocab_size"] and len(first["entries"]) == 25
    assert first["entries"][0] == {"id": 0, "token": first["entries"][0]["token"],
                                   "bytes_hex": first["entries"][0]["bytes_hex"], "rank": None,
                                   "special": first["entries"][0]["special"]}  # fmt: skip
    found = alice_client.get(url, {"q": "E"}).json()  # case-insensitive
    assert 1 <= found["count"] < first["count"]
    assert all("e" in e["token"].lower() for e in found["entries"])
    assert alice_client.get(url, {"page": "x"}).status_code == 400
    assert alice_client.get(url, {"page": 999}).json()["page"] == first["pages"]


@pytest.mark.parametrize(
    "body, status, error",
    [
        (b"not json", 400, 'send JSON {"text": "..."}'),
        (b'{"txt": 1}', 400, 'send JSON {"text": "..."}'),
        (b'{"text": 5}', 400, "text must be a string"),
        (json.dumps({"text": "x" * 20_001}).encode(), 400, "at most 20,000 characters, not 20,001"),
    ],
)
def test_it_answers_bad_requests_clearly(alice_client, tokenizer_run, body, status, error):
    url = reverse("tokenization:encode", args=[tokenizer_run.pk])
    response = alice_client.post(url, body, content_type="application/json")
    assert response.status_code == status and response.json() == {"error": error}


def test_it_refuses_to_inspect_an_unfinished_tokenizer(alice, alice_client, corpus):
    run = TokenizerRun.objects.create(owner=alice, name="t", vocab_size=300)
    response = _post(alice_client, "encode", run, {"text": "x"})
    assert response.status_code == 409


def test_the_trace_refuses_long_text_with_a_message(alice_client, tokenizer_run):
    response = _post(alice_client, "trace", tokenizer_run, {"text": "🙂" * 33})  # 132 bytes
    assert response.status_code == 400
    assert response.json()["error"] == (
        "the merge trace takes at most 128 bytes of text (a word or a sentence; a character "
        "outside ASCII takes 2-4), not 132: shorten it"
    )


def test_the_longest_trace_stays_small(alice_client, tokenizer_run):
    # Output grows with the square of the text: the cap keeps the worst case to a few
    # hundred kB (a paste of 1,000 characters was megabytes).
    text = ("the mouse ate the cheese " * 6)[:MAX_TRACE_BYTES]
    response = _post(alice_client, "trace", tokenizer_run, {"text": text})
    assert response.status_code == 200
    assert len(response.json()["steps"]) > 20
    assert len(response.content) < 400_000, len(response.content)
