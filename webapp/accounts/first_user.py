"""The first user: who it is, a fresh password for it, and how to run the command that
gives one (docs/architecture.md, "How it starts").

A newcomer's password is printed once, by the first start; a later start cannot show it again
(only its hash is stored), so it names `reset_admin_password`, written as the person at the
terminal can run it: with the virtualenv's Python, since the system's has no Django.
"""

from __future__ import annotations

import os
import secrets
import sys
from pathlib import Path
from typing import Any

from django.contrib.auth import get_user_model

BASE_DIR = Path(__file__).resolve().parents[2]


def manage_command(*args: str) -> str:
    """`manage.py ARGS` as a shell line that runs from the current directory with this
    process's Python: `.venv/bin/python manage.py createsuperuser` under `make run`."""
    return " ".join([_shown(Path(sys.executable)), _shown(BASE_DIR / "manage.py"), *args])


def _shown(path: Path) -> str:
    """`path` relative to the current directory when it lies below it, else absolute."""
    try:
        return str(Path(os.path.abspath(path)).relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def first_admin(username: str | None = None) -> Any:
    """The user named `username`, else the first superuser made (the one `make run` made);
    None when there is no such user."""
    users = get_user_model().objects
    if username:
        return users.filter(username=username).first()
    return users.filter(is_superuser=True).order_by("pk").first()


def new_password() -> str:
    return secrets.token_urlsafe(12)
