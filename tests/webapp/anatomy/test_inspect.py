"""`/anatomy/inspect` and `/anatomy/focus` through the real worker: lmcore's numbers, the
playground's access rule, clear refusals."""

import json
import time

import pytest

from tests.lmcore.test_anatomy import assert_same_numbers
from tests.webapp.playground.conftest import make_version

pytestmark = pytest.mark.django_db(transaction=True)
TEXT = "the mouse ate the cheese and the cat ate the mouse"


def post(client, url, **body):
    return client.post(url, json.dumps(body), content_type="application/json")


def direct(version, **kwargs):
    from lmcore.anatomy import anatomy_of_text, focus_of_text
    from lmcore.checkpoint import load_checkpoint

    ck = load_checkpoint(version.directory)
    if "position" in kwargs and kwargs.pop("focus_only", False):
        return focus_of_text(ck.model, ck.tokenizer, TEXT, kwargs["position"])
    return anatomy_of_text(ck.model, ck.tokenizer, TEXT, **kwargs)


def test_it_answers_what_lmcore_computes(alice_client, version, celery_worker):
    response = post(alice_client, "/anatomy/inspect", model_version=version.pk, text=TEXT)
    assert response.status_code == 200, response.content
    assert response["Content-Type"] == "application/json"
    got = json.loads(response.content)
    assert_same_numbers(got, json.loads(json.dumps(direct(version))))
    assert got["focus"]["position"] == len(got["tokens"]) - 1

    response = post(alice_client, "/anatomy/focus", model_version=version.pk, text=TEXT, position=3)
    assert response.status_code == 200, response.content
    expected = direct(version, position=3, focus_only=True)
    assert_same_numbers(json.loads(response.content), json.loads(json.dumps(expected)))


def test_it_lets_in_only_those_who_may_play(client, bob, alice, version, admin_user, tiny_checkpoint,
                                            celery_worker):  # fmt: skip
    client.force_login(bob)
    response = post(client, "/anatomy/inspect", model_version=version.pk, text=TEXT)
    assert response.status_code == 404
    assert response.json() == {"error": "no such model version, or it is not yours to use"}
    shared = make_version(admin_user, tiny_checkpoint, name="shared", status="production")
    assert post(client, "/anatomy/inspect", model_version=shared.pk, text="the").status_code == 200
    page = client.get("/anatomy/")
    assert page.status_code == 200
    assert b"shared v1" in page.content and b"tiny v1" not in page.content
    client.logout()
    assert post(client, "/anatomy/inspect", model_version=version.pk, text=TEXT).status_code == 302


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("not json", "the request body must be JSON"),
        ({"text": "the"}, "model_version must be a version id"),
        ({"model_version": 1, "text": ""}, "text must be a non-empty string"),
        ({"model_version": 1, "text": "the", "position": -1}, "position must be a token position"),
        ({"model_version": 1, "text": "x" * 16_001}, "text is longer than 16000 characters"),
    ],
)
def test_it_refuses_bad_requests(alice_client, body, message):
    data = body if isinstance(body, str) else json.dumps(body)
    response = alice_client.post("/anatomy/inspect", data, content_type="application/json")
    assert response.status_code == 400 and response.json()["error"].startswith(message)


def test_it_passes_on_what_lmcore_refuses(alice_client, version, celery_worker):
    long = post(alice_client, "/anatomy/inspect", model_version=version.pk, text="the cat " * 200)
    assert long.status_code == 422
    assert long.json()["error"].endswith("tokens; this model reads 1 to 64")
    far = post(alice_client, "/anatomy/focus", model_version=version.pk, text="the", position=9)
    assert far.status_code == 422 and far.json()["error"].startswith("position 9 is outside")
    assert alice_client.get("/anatomy/focus").status_code == 405


def test_it_says_so_when_no_worker_takes_the_request(alice_client, alice, version, settings,
                                                     services, monkeypatch):  # fmt: skip
    """The playground's path: withdrawn after the pickup timeout, and a late worker skips it."""
    import redis

    from workers.anatomy import inspect_text

    monkeypatch.setattr("webapp.playground.inference.INFER_QUEUE", "nobody-listens")
    settings.PLAYGROUND_PICKUP_TIMEOUT_S = 1
    response = post(alice_client, "/anatomy/inspect", model_version=version.pk, text=TEXT)
    assert response.status_code == 503
    assert response.json()["error"].startswith("no inference worker took the request within 1 s")
    with redis.Redis.from_url(services) as conn:
        (flag,) = conn.keys(f"bottega:pg:{alice.pk}:ask-*:cancel")
        request_id = flag.decode().split(":")[3]
        inspect_text(alice.pk, request_id, version.pk, TEXT)  # the late worker
        assert not conn.exists(f"bottega:pg:{alice.pk}:{request_id}")


def test_it_has_its_own_requests_a_minute(alice_client, alice, version, services, monkeypatch,
                                          celery_worker):  # fmt: skip
    """The page counts apart from the playground: a playground request this minute takes
    nothing from it."""
    import redis
    from asgiref.sync import async_to_sync

    from webapp.playground.inference import Inference

    monkeypatch.setattr("webapp.anatomy.views.REQUESTS_PER_MINUTE", 2)

    async def a_playground_request() -> None:
        inference = Inference(alice.pk)
        await inference.charge()
        await inference.close()

    for _attempt in range(2):  # again if the minute turned over mid-way (its count restarts)
        with redis.Redis.from_url(services) as conn:
            for key in conn.scan_iter("bottega:*:rate:*"):
                conn.delete(key)
        minute = int(time.time() // 60)
        async_to_sync(a_playground_request)()
        answers = [post(alice_client, "/anatomy/focus", model_version=version.pk, text=TEXT,
                        position=1) for _ in range(3)]  # fmt: skip
        if int(time.time() // 60) == minute:
            break
    assert [a.status_code for a in answers] == [200, 200, 429]
    assert int(answers[2]["Retry-After"]) >= 1
    assert answers[2].json()["error"].startswith("at most 2 requests a minute")
