"""`manage.py reset_admin_password`: a lost first password is one command away, and the new
one signs in (a lockout of that username lifted too)."""

import pytest
from django.conf import settings
from django.core.management import CommandError, call_command
from django.urls import reverse

pytestmark = pytest.mark.django_db


def _new_password(capsys, *args: str) -> str:
    call_command("reset_admin_password", *args)
    out = capsys.readouterr().out
    assert "Sign in at http://" in out
    return out.split("with password ", 1)[1].split()[0]


def _signs_in(client, username: str, password: str) -> bool:
    response = client.post(reverse("login"), {"username": username, "password": password})
    client.logout()
    return response.status_code == 302


def test_it_gives_the_first_superuser_a_new_password_that_signs_in(client, admin_user, capsys):
    password = _new_password(capsys)
    assert password != "admin-password-1"
    assert not _signs_in(client, "admin", "admin-password-1")
    assert _signs_in(client, "admin", password)


def test_it_resets_a_named_user_only(client, admin_user, alice, capsys):
    password = _new_password(capsys, "--username", "alice")
    assert _signs_in(client, "admin", "admin-password-1")
    assert _signs_in(client, "alice", password)


def test_it_lifts_a_lockout_of_that_username(client, admin_user, capsys):
    wrong = {"username": "admin", "password": "nope"}
    for _ in range(settings.AXES_FAILURE_LIMIT):
        client.post(reverse("login"), wrong)
    assert client.post(reverse("login"), wrong).status_code == 429
    assert _signs_in(client, "admin", _new_password(capsys))


def test_it_says_what_to_do_when_there_is_nobody_to_reset(alice):
    with pytest.raises(CommandError, match="no superuser yet: `make run` makes the first one"):
        call_command("reset_admin_password")
    with pytest.raises(CommandError, match="no user named 'carol'"):
        call_command("reset_admin_password", "--username", "carol")
