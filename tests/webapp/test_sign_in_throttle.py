"""Sign-in is throttled per (username, address): after BOTTEGA_SIGN_IN_FAILURES failures that
pair is refused with a clear message, even with the right password; others are not."""

import os
import sys

import pytest
from django.conf import settings
from django.urls import reverse

pytestmark = pytest.mark.django_db

RIGHT = {"username": "alice", "password": "alice-password-1"}
WRONG = {"username": "alice", "password": "nope"}


def _fail_until_locked(client):
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        assert client.post(reverse("login"), WRONG).status_code == 200
    return client.post(reverse("login"), WRONG)


def test_it_locks_the_pair_out_with_a_message(client, alice):
    response = _fail_until_locked(client)
    assert response.status_code == 429
    text = response.content.decode()
    assert "Too many failed sign-ins for this username from your address" in text
    assert f"wait {settings.SIGN_IN_LOCKOUT_MINUTES} minutes" in text
    # What clears it, as commands the person at the server's terminal can run as printed.
    python = os.path.relpath(sys.executable)
    python = sys.executable if python.startswith("..") else python
    assert f"{python} manage.py axes_reset_username NAME" in text
    assert f"{python} manage.py reset_admin_password also prints a new password" in text
    assert 'name="password"' in text and "alice-password-1" not in text  # the form again
    # Even the right password is refused now, and nobody is signed in.
    response = client.post(reverse("login"), RIGHT)
    assert response.status_code == 429
    assert client.get(reverse("home")).status_code == 302


def test_other_addresses_and_users_are_not_locked_out(client, alice, bob):
    _fail_until_locked(client)
    elsewhere = client.post(reverse("login"), RIGHT, REMOTE_ADDR="10.0.0.9")
    assert elsewhere.status_code == 302  # signed in from another address
    client.post(reverse("logout"))
    bob_signs_in = client.post(reverse("login"), {"username": "bob", "password": "bob-password-1"})
    assert bob_signs_in.status_code == 302


def test_a_success_clears_the_count(client, alice):
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        client.post(reverse("login"), WRONG)
    assert client.post(reverse("login"), RIGHT).status_code == 302
    client.post(reverse("logout"))
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        assert client.post(reverse("login"), WRONG).status_code == 200


def test_the_admin_sign_in_is_throttled_too(client, admin_user):
    wrong = {"username": admin_user.username, "password": "nope"}
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        client.post(reverse("admin:login"), wrong)
    assert client.post(reverse("admin:login"), wrong).status_code == 429
