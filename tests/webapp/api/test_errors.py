"""Errors in OpenAI's shape, each status mapped by the `openai` client to its exception."""

import json
import urllib.error
import urllib.request

import pytest
import redis
from openai import (
    APIError,
    AuthenticationError,
    BadRequestError,
    InternalServerError,
    NotFoundError,
    RateLimitError,
)

from tests.webapp.api.conftest import LONG, client_for, daphne, issue_key, make_version
from tests.webapp.fixtures_ml import wait_for

pytestmark = pytest.mark.django_db(transaction=True)


def test_each_invalid_field_is_named(alice_api, version):
    with pytest.raises(BadRequestError) as caught:
        alice_api.completions.create(model="tiny", prompt="the", max_tokens=-1, temperature=-1,
                                     stop=["s"] * 9, n=0, logprobs=21,
                                     extra_body={"top_k": -2, "colour": "red"})  # fmt: skip
    error = caught.value.body
    assert error["type"] == "invalid_request_error" and error["code"] == "invalid_value"
    for field in ("max_tokens", "temperature", "stop", "n", "logprobs", "top_k", "colour"):
        assert f"{field}: " in error["message"], field
    assert error["param"] == "colour"  # the first named; the message names every one
    with pytest.raises(BadRequestError) as caught:
        alice_api.completions.create(model="tiny", prompt="the", max_tokens=0)
    assert caught.value.body["param"] == "max_tokens" and "echo" in caught.value.body["message"]
    with pytest.raises(BadRequestError, match="presence_penalty: is not supported"):
        alice_api.completions.create(model="tiny", prompt="the", presence_penalty=1.0)
    with pytest.raises(BadRequestError, match="top_logprobs: needs logprobs: true"):
        alice_api.chat.completions.create(model="tiny", messages=[{"role": "user", "content": "x"}],
                                          top_logprobs=2)  # fmt: skip


def test_a_request_the_worker_cannot_serve_is_a_400(alice_api, version):
    with pytest.raises(BadRequestError, match="nothing to score"):  # one token: nothing to score
        alice_api.completions.create(model="tiny", prompt="t", max_tokens=0, echo=True)


def test_keys_missing_unknown_or_revoked_are_refused(api_url, alice, version):
    from webapp.api.models import ApiKey

    with pytest.raises(urllib.error.HTTPError) as caught:
        urllib.request.urlopen(f"{api_url}/v1/models", timeout=10)
    assert caught.value.code == 401
    assert json.loads(caught.value.read())["error"]["code"] == "missing_api_key"
    with pytest.raises(AuthenticationError) as caught:
        client_for(api_url, "bt-not-a-real-key").models.list()
    assert caught.value.body["code"] == "invalid_api_key"
    key = issue_key(alice, "laptop")
    client = client_for(api_url, key)
    assert client.models.list().data
    ApiKey.objects.get(name="laptop").revoke()
    with pytest.raises(AuthenticationError, match="unknown or revoked"):
        client.models.list()
    with pytest.raises(AuthenticationError):
        client.completions.create(model="tiny", prompt="the")


def test_unknown_models_and_other_users_private_versions_are_404(api_url, alice, bob, admin_user,
                                                                 version, tiny_checkpoint):  # fmt: skip
    bobs = client_for(api_url, issue_key(bob))
    for model in ("nope", "tiny", "alice/tiny", "alice/tiny:v1", "tiny:v1"):
        with pytest.raises(NotFoundError) as caught:
            bobs.completions.create(model=model, prompt="the", max_tokens=2)
        assert (
            caught.value.body["param"] == "model" and caught.value.body["code"] == "model_not_found"
        )
    # Staff production versions are shared; their candidates are not.
    make_version(admin_user, tiny_checkpoint, name="shared", version=1, status="production")
    make_version(admin_user, tiny_checkpoint, name="shared", version=2)
    with pytest.raises(NotFoundError):
        bobs.completions.create(model="admin/shared:v2", prompt="the", max_tokens=2)
    assert bobs.models.retrieve("admin/shared").id == "admin/shared"
    with pytest.raises(NotFoundError):
        bobs.models.retrieve("alice/tiny")


def _done_entries(url: str, user_id: int) -> list[dict]:
    from webapp.playground.streams import decode_entry

    with redis.Redis.from_url(url) as conn:
        found = []
        for key in conn.scan_iter(f"bottega:pg:{user_id}:api-*"):
            if key.endswith(b":cancel"):
                continue
            found += [d for _, f in conn.xrange(key) for k, d in [decode_entry(f)] if k == "done"]
        return found


def test_one_generation_at_a_time_and_a_disconnect_cancels_it(alice_api, alice, version,
                                                              services, settings):  # fmt: skip
    settings.PLAYGROUND_MAX_NEW_TOKENS = LONG  # the worker's cap (daphne's is set likewise)
    stream = alice_api.completions.create(model="tiny", prompt="the", max_tokens=LONG,
                                          temperature=0, stream=True)  # fmt: skip
    next(iter(stream))  # a worker is generating
    with pytest.raises(RateLimitError) as caught:
        alice_api.completions.create(model="tiny", prompt="the", max_tokens=2)
    assert caught.value.response.headers["Retry-After"] == "1"
    assert "already have a generation running" in caught.value.body["message"]
    stream.close()  # the client goes away mid-answer
    (done,) = wait_for(lambda: _done_entries(services, alice.pk), timeout=30)
    assert done["reason"] == "cancelled" and done["stats"]["tokens"] < LONG
    assert alice_api.completions.create(model="tiny", prompt="the", max_tokens=2).choices


def test_no_worker_is_503_and_the_minute_cap_429(alice, version, services, tmp_path, api_media):
    # Another Redis database: the same server, but no worker consumes this broker.
    lonely = services.rsplit("/", 1)[0] + "/1"
    env = {
        "BOTTEGA_PLAYGROUND_PICKUP_TIMEOUT_S": "1",
        "BOTTEGA_PLAYGROUND_REQUESTS_PER_MINUTE": "2",
    }
    with daphne(lonely, api_media, tmp_path / "daphne.log", **env) as url:
        client = client_for(url, issue_key(alice))
        with pytest.raises(InternalServerError) as caught:
            client.completions.create(model="tiny", prompt="the", max_tokens=2)
        assert caught.value.status_code == 503 and caught.value.body["code"] == "no_worker"
        assert "no inference worker took the request within 1 s" in caught.value.body["message"]
        with pytest.raises(InternalServerError):  # the slot was freed: the same answer again
            client.completions.create(model="tiny", prompt="the", max_tokens=2, stream=True)
        # The cap counts per clock minute: if one ends between two requests the count starts
        # again, so the third or (after a minute boundary) at most the fifth request is refused.
        for _ in range(3):
            try:
                client.completions.create(model="tiny", prompt="the", max_tokens=2)
            except RateLimitError as exc:
                refused = exc
                break
            except InternalServerError:
                continue
        else:
            raise AssertionError("the per-minute cap never answered 429")
        assert "at most 2 requests a minute" in refused.body["message"]
        assert 0 < int(refused.response.headers["Retry-After"]) <= 60


def test_an_error_inside_a_stream_is_a_data_chunk(alice_api, version):
    stream = alice_api.completions.create(model="tiny", prompt=["the mouse ate", "t"], max_tokens=0,
                                          echo=True, logprobs=0, stream=True)  # fmt: skip
    first = next(iter(stream))
    assert first.choices[0].text == "the mouse ate"
    with pytest.raises(APIError, match="nothing to score"):
        list(stream)


async def test_the_playground_and_the_api_share_one_active_generation(
    alice_client, alice_key, api_url, version, celery_worker
):
    from openai import AsyncOpenAI

    from tests.webapp.playground.conftest import connected, receive_until

    socket = await connected(alice_client)
    await socket.send_json_to({"type": "generate", "request_id": "long", "prompt": "the",
                               "model_version": version.pk,
                               "params": {"max_new_tokens": 1000, "temperature": 0}})  # fmt: skip
    await receive_until(socket, "long", kinds=("started",))
    client = AsyncOpenAI(base_url=f"{api_url}/v1", api_key=alice_key, max_retries=0)
    with pytest.raises(RateLimitError, match=r"already have a generation running \(long\)"):
        await client.completions.create(model="tiny", prompt="the", max_tokens=2)
    await socket.send_json_to({"type": "cancel", "request_id": "long"})
    assert (await receive_until(socket, "long"))[-1]["reason"] == "cancelled"
    assert (await client.completions.create(model="tiny", prompt="the", max_tokens=2)).choices
    await client.close()
    await socket.disconnect()


async def test_closing_the_stream_at_a_chunk_cancels_the_generation(
    alice, version, services, celery_worker, settings
):
    """What Django does when a client leaves while a chunk is being written: it closes the
    response's generator at its yield; the runs nested inside must close and cancel too."""
    from asgiref.sync import sync_to_async

    from webapp.api.choices import CompletionPlan
    from webapp.api.endpoints import _sse
    from webapp.api.schema import parse_completion
    from webapp.api.shapes import Envelope
    from webapp.playground.inference import Inference

    settings.PLAYGROUND_MAX_NEW_TOKENS = LONG
    req = parse_completion({"model": "tiny", "prompt": "the", "max_tokens": LONG,
                            "temperature": 0, "stream": True})  # fmt: skip
    plan = CompletionPlan(Inference(alice.pk), version.pk, req)
    await plan.start()
    body = _sse(plan, Envelope("text_completion", "tiny:v1"), False)
    assert (await body.__anext__()).startswith("data: ")
    await body.aclose()  # suspended at its yield, as under Django's aclosing()
    entries = await sync_to_async(wait_for)(lambda: _done_entries(services, alice.pk), timeout=30)
    assert entries[0]["reason"] == "cancelled"
