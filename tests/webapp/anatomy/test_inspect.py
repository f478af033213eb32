"""`/anatomy/inspect` and `/anatomy/focus` through the real worker: lmcore's numbers, the
playground's access rule, clear refusals."""

import json

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
