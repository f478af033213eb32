import os
import re
import sys

import pytest
from django.contrib.auth import authenticate, get_user_model
from django.core.management import call_command
from django.test import RequestFactory

pytestmark = pytest.mark.django_db
SIGN_IN = RequestFactory().post("/accounts/login/")  # sign-in throttling needs the request


def test_it_creates_a_staff_user_when_there_is_none(monkeypatch, capsys):
    monkeypatch.setenv("BOTTEGA_ADMIN_PASSWORD", "first-password-9")
    call_command("ensure_first_user")
    user = authenticate(SIGN_IN, username="admin", password="first-password-9")
    assert user is not None and user.is_staff and user.is_superuser
    assert "Sign in at http://127.0.0.1:8000/" in capsys.readouterr().out


def test_it_prints_a_random_password_that_works(monkeypatch, capsys):
    monkeypatch.delenv("BOTTEGA_ADMIN_PASSWORD", raising=False)
    call_command("ensure_first_user", username="root")
    out = capsys.readouterr().out
    password = re.search(r"with password (\S+)\n", out).group(1)
    assert authenticate(SIGN_IN, username="root", password=password) is not None
    # The one time the password shows, it also says how to get a new one, as the later starts do.
    assert f"Lost it? {_python()} manage.py reset_admin_password prints a new one." in out


def _python() -> str:
    """The Python that has Django (this one), as the commands are printed: relative to the
    current directory when below it (`.venv/bin/python` from the checkout), else absolute."""
    python = os.path.relpath(sys.executable)
    return sys.executable if python.startswith("..") else python


def test_it_changes_nothing_when_users_exist(alice, capsys):
    call_command("ensure_first_user")
    assert list(get_user_model().objects.values_list("username", flat=True)) == ["alice"]
    out = capsys.readouterr().out
    assert "existing user" in out
    # How to get in again, with the Python that has Django (this one), not a bare `python`:
    # `.venv/bin/python manage.py ...` from the checkout, as `make` runs it.
    assert f"{_python()} manage.py reset_admin_password prints a new one" in out
