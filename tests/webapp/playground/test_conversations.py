"""Saved conversations: alice saves, lists, reopens, updates and deletes hers; bob gets 404;
bad input gets a 400 that says what is wrong."""

import json

import pytest

from tests.webapp.playground.conftest import make_version
from webapp.playground.models import Conversation
from webapp.playground.transcripts import MAX_CONVERSATION_BYTES

pytestmark = pytest.mark.django_db
URL = "/playground/conversations/"
TOKEN = {"id": 5, "bytes": "7468", "text": "th", "logprob": -1.5, "sample_logprob": -1.2,
         "top": [{"id": 6, "text": "a", "logprob": -2.0, "sample_logprob": None}]}  # fmt: skip


def _completion(version, **extra):
    answer = {"role": "completion", "title": "tiny v1", "content": "the", "tokens": [TOKEN],
              "stats": {"tokens": 1, "ttft_ms": 3.5, "seed": 7}, "reason": "max_new_tokens"}  # fmt: skip
    return {"mode": "completion", "model_version": version.pk, "params": {"temperature": 0.8},
            "messages": [{"role": "prompt", "content": "Once upon\na time"}, answer], **extra}  # fmt: skip


def _chat(version):
    messages = [{"role": "user", "content": "hello"}, {"role": "assistant", "content": "hi"}]
    return {"mode": "chat", "model_version": version.pk, "params": {}, "messages": messages}


def _send(client, method, url, payload):
    body = payload if isinstance(payload, str | bytes) else json.dumps(payload)
    return getattr(client, method)(url, body, content_type="application/json")


def test_it_saves_lists_reopens_updates_and_deletes(alice_client, version):
    created = _send(alice_client, "post", URL, _completion(version))
    assert created.status_code == 201, created.json()
    saved = created.json()
    assert saved["title"] == "Once upon a time" and saved["messages"][1]["tokens"] == [TOKEN]
    assert alice_client.get(URL).json()["conversations"][0]["id"] == saved["id"]
    one = f"{URL}{saved['id']}/"
    assert alice_client.get(one).json() == saved
    updated = _send(alice_client, "put", one, _chat(version)).json()
    assert updated["mode"] == "chat" and updated["title"] == "hello"
    assert alice_client.delete(one).status_code == 204
    assert not Conversation.objects.exists()


def test_it_hides_alices_conversations_from_bob(alice_client, client, alice, bob, version):
    pk = _send(alice_client, "post", URL, _chat(version)).json()["id"]
    client.force_login(bob)
    assert client.get(URL).json() == {"conversations": []}
    for method in ("get", "delete"):
        assert getattr(client, method)(f"{URL}{pk}/").status_code == 404
    assert _send(client, "put", f"{URL}{pk}/", _chat(version)).status_code == 404
    assert Conversation.objects.get(pk=pk).owner == alice


@pytest.mark.parametrize(
    ("change", "says"),
    [
        (lambda p: "{not json", "send a JSON object"),
        (lambda p: '{"mode": NaN}', "send a JSON object"),
        (lambda p: {**p, "mode": "poem"}, "mode must be one of"),
        (lambda p: {**p, "model_version": 999_999}, "no such model version"),
        (lambda p: {**p, "params": {"temperature": -1}}, "temperature"),
        (lambda p: {**p, "messages": [{"role": "completion"}]}, "a completion's messages"),
        (
            lambda p: {
                **p,
                "messages": [
                    p["messages"][0],
                    {**p["messages"][1], "tokens": [{**TOKEN, "bytes": "<script>"}]},
                ],
            },
            "each token must be",
        ),  # fmt: skip
        (lambda p: {**p, "title": "x" * 201}, "title must be"),
        (
            lambda p: {
                **p,
                "messages": [p["messages"][0], {**p["messages"][1], "stats": {"tokens": "many"}}],
            },
            "stats must map",
        ),  # fmt: skip
    ],
)
def test_it_refuses_bad_input(alice_client, version, change, says):
    response = _send(alice_client, "post", URL, change(_completion(version)))
    assert response.status_code == 400 and says in response.json()["error"]
    assert not Conversation.objects.exists()


def test_it_refuses_a_chat_that_is_not_a_conversation(alice_client, version):
    """Two user messages in a row (a refused message kept in the transcript, as the page once
    did): saved, the chat could never be answered again."""
    chat = _chat(version)
    chat["messages"] += [{"role": "user", "content": "a"}, {"role": "user", "content": "b"}]
    response = _send(alice_client, "post", URL, chat)
    assert response.status_code == 400
    assert "not a conversation: message" in response.json()["error"]
    assert not Conversation.objects.exists()


def test_it_refuses_an_oversize_conversation(alice_client, version):
    chat = _chat(version)
    chat["messages"][0]["content"] = "x" * MAX_CONVERSATION_BYTES
    response = _send(alice_client, "post", URL, chat)
    assert response.status_code == 400 and "the limit is 1,000,000" in response.json()["error"]


def test_it_refuses_another_users_model_version(alice_client, version, bob, tiny_checkpoint):
    bobs = make_version(bob, tiny_checkpoint, name="bobs")
    response = _send(alice_client, "post", URL, {**_chat(version), "model_version": bobs.pk})
    assert response.status_code == 400 and "not yours" in response.json()["error"]


def test_it_keeps_a_conversation_whose_version_is_deleted(alice_client, version):
    pk = _send(alice_client, "post", URL, _chat(version)).json()["id"]
    version.delete()
    assert alice_client.get(f"{URL}{pk}/").json()["model_version"] is None


def test_it_requires_sign_in(client):
    assert client.get(URL).status_code == 302


def test_it_requires_the_csrf_header(alice, version):
    from django.test import Client

    strict = Client(enforce_csrf_checks=True)
    strict.force_login(alice)
    assert _send(strict, "post", URL, _chat(version)).status_code == 403
    strict.get("/playground/")
    token = strict.cookies["csrftoken"].value
    response = strict.post(URL, json.dumps(_chat(version)), content_type="application/json",
                           headers={"X-CSRFToken": token})  # fmt: skip
    assert response.status_code == 201


def test_it_caps_the_number_kept(alice_client, version, monkeypatch):
    monkeypatch.setattr("webapp.playground.conversations.MAX_CONVERSATIONS", 1)
    assert _send(alice_client, "post", URL, _chat(version)).status_code == 201
    response = _send(alice_client, "post", URL, _chat(version))
    assert response.status_code == 400 and "delete some" in response.json()["error"]
