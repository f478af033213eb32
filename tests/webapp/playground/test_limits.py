"""Bad messages, other users' models, one active generation, the per-minute cap, no worker."""

import json

import pytest

from tests.webapp.playground.conftest import connected, make_version, receive_until

pytestmark = pytest.mark.django_db(transaction=True)


def _generate(version_pk, **overrides):
    message = {"type": "generate", "request_id": "g", "model_version": version_pk,
               "prompt": "the", "params": {"max_new_tokens": 5}}  # fmt: skip
    return {**message, **overrides}


@pytest.mark.parametrize(
    "make, expected",
    [
        (lambda v: "{not json", "message is not valid JSON"),
        (lambda v: json.dumps({"type": "launch"}), "unknown message type; this socket accepts"),
        (lambda v: "x" * 80_000, "messages are JSON text of at most"),
        (lambda v: json.dumps(_generate(v, request_id="a b")), "request_id must be"),
        (lambda v: json.dumps(_generate(v, prompt="x" * 20_000)), "prompt is 20,000 characters"),
        (lambda v: json.dumps(_generate(v, params=[1])), "params must be an object"),
        (lambda v: json.dumps(_generate(v, model_version="1")), "model_version must be"),
        (lambda v: json.dumps(_generate(v, chat=[{"role": "robot"}])), "chat must be a list"),
    ],
)
async def test_it_answers_bad_messages_with_an_error(alice_client, version, make, expected):
    socket = await connected(alice_client)
    await socket.send_to(text_data=make(version.pk))
    reply = await socket.receive_json_from(timeout=5)
    assert reply["type"] == "error" and reply["message"].startswith(expected), reply
    await socket.disconnect()


@pytest.mark.parametrize(
    "params, expected",
    [
        ({"temprature": 1}, "unknown sampling settings: temprature"),
        ({"top_p": 0}, "top_p must be in (0, 1]"),
        ({"max_new_tokens": 5000}, "max_new_tokens must be between 1 and 1024"),
        ({"temperature": "hot"}, "sampling setting temperature must be float"),
    ],
)
async def test_it_reports_invalid_sampling_settings(alice_client, version, celery_worker, params,
                                                    expected):  # fmt: skip
    socket = await connected(alice_client)
    await socket.send_json_to(_generate(version.pk, params=params))
    reply = (await receive_until(socket, "g", timeout=10))[-1]
    assert reply["type"] == "error" and reply["message"].startswith(expected), reply
    # The failed request released the user's active slot.
    await socket.send_json_to(_generate(version.pk, request_id="g2"))
    assert (await receive_until(socket, "g2"))[-1]["type"] == "done"
    await socket.disconnect()


async def test_it_refuses_someone_elses_model(client, bob, version):
    from asgiref.sync import sync_to_async

    await sync_to_async(client.force_login)(bob)
    socket = await connected(client)
    await socket.send_json_to(_generate(version.pk))
    reply = await socket.receive_json_from(timeout=5)
    assert reply == {"type": "error", "request_id": "g",
                     "message": "no such model version, or it is not yours to use"}  # fmt: skip
    await socket.send_json_to({"type": "score", "request_id": "s", "model_version": version.pk,
                               "text": "the cat"})  # fmt: skip
    assert (await socket.receive_json_from(timeout=5))["type"] == "error"
    await socket.disconnect()


async def test_staff_production_versions_are_shared(client, bob, admin_user, tiny_checkpoint,
                                                     celery_worker):  # fmt: skip
    from asgiref.sync import sync_to_async

    shared = await sync_to_async(make_version)(admin_user, tiny_checkpoint, status="production")
    await sync_to_async(client.force_login)(bob)
    socket = await connected(client)
    await socket.send_json_to(_generate(shared.pk))
    assert (await receive_until(socket, "g"))[-1]["type"] == "done"
    await socket.disconnect()


async def test_it_allows_one_active_generation_per_user(alice_client, version, celery_worker):
    socket = await connected(alice_client)
    long = {"max_new_tokens": 1000, "temperature": 0}
    await socket.send_json_to(_generate(version.pk, request_id="one", params=long))
    await receive_until(socket, "one", kinds=("started",))
    other = await connected(alice_client)  # another tab: same user, same limit
    await other.send_json_to(_generate(version.pk, request_id="two"))
    reply = await other.receive_json_from(timeout=5)
    assert reply["type"] == "error" and reply["active_request_id"] == "one"
    assert "already have a generation running" in reply["message"]
    await socket.send_json_to({"type": "cancel", "request_id": "one"})
    assert (await receive_until(socket, "one"))[-1]["reason"] == "cancelled"
    await other.send_json_to(_generate(version.pk, request_id="g"))  # used request ids are refused
    await other.send_json_to(_generate(version.pk, request_id="one"))
    error = (await receive_until(other, "one", kinds=()))[-1]
    assert error["message"] == "request_id one was already used; send a new one"
    assert (await receive_until(other, "g"))[-1]["type"] == "done"
    await socket.disconnect()
    await other.disconnect()


async def test_it_caps_requests_per_minute(alice_client, version, settings):
    settings.PLAYGROUND_REQUESTS_PER_MINUTE = 2
    socket = await connected(alice_client)
    for n in range(3):
        await socket.send_json_to({"type": "score", "request_id": f"s{n}",
                                   "model_version": version.pk, "text": "the cat"})  # fmt: skip
    errors = []
    while not errors:
        message = await socket.receive_json_from(timeout=10)
        if message["type"] == "error":
            errors.append(message)
    assert errors[0]["request_id"] == "s2" and "at most 2 requests a minute" in errors[0]["message"]
    await socket.disconnect()


async def test_it_says_so_when_no_worker_takes_the_request(alice_client, version, settings,
                                                            monkeypatch):  # fmt: skip
    monkeypatch.setattr("webapp.playground.inference.INFER_QUEUE", "nobody-listens")
    settings.PLAYGROUND_PICKUP_TIMEOUT_S = 1
    socket = await connected(alice_client)
    await socket.send_json_to(_generate(version.pk))
    reply = await socket.receive_json_from(timeout=5)
    assert (
        reply["type"] == "error"
        and "no inference worker took the request within 1 s" in (reply["message"])
    )
    await socket.send_json_to(_generate(version.pk, request_id="g3"))  # the slot was released
    assert (await socket.receive_json_from(timeout=5))["message"].startswith("no inference worker")
    await socket.disconnect()
