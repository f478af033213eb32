import pytest
from django.urls import reverse

pytestmark = pytest.mark.django_db

SECTIONS = [
    "corpora:index",
    "tokenization:index",
    "training:index",
    "playground:index",
    "registry:index",
]


def test_it_redirects_anonymous_visitors_to_sign_in(client):
    for name in ["home", "status", *SECTIONS]:
        response = client.get(reverse(name))
        assert response.status_code == 302, name
        assert response["Location"].startswith(reverse("login"))


def test_it_signs_in_and_out(client, alice):
    response = client.post(
        reverse("login"), {"username": "alice", "password": "alice-password-1"}, follow=True
    )
    assert response.context["user"] == alice
    assert b"Corpora" in response.content and b"Sign out" in response.content

    response = client.post(reverse("logout"), follow=True)
    assert not response.context["user"].is_authenticated
    assert client.get(reverse("home")).status_code == 302


def test_it_rejects_a_wrong_password_with_a_message(client, alice):
    response = client.post(reverse("login"), {"username": "alice", "password": "nope"})
    assert response.status_code == 200
    assert b"didn&#x27;t match" in response.content or b"didn't match" in response.content


def test_it_shows_every_section_in_the_navigation(alice_client):
    response = alice_client.get(reverse("home"))
    for label in [b"Corpora", b"Tokenizers", b"Training", b"Playground", b"Models", b"Status"]:
        assert label in response.content
    for name in SECTIONS:
        assert alice_client.get(reverse(name)).status_code == 200


def test_it_uses_csrf_on_sign_in(alice):
    from django.test import Client

    strict = Client(enforce_csrf_checks=True)
    response = strict.post(reverse("login"), {"username": "alice", "password": "alice-password-1"})
    assert response.status_code == 403
