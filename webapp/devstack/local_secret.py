"""The SECRET_KEY that `make run` keeps in var/, for the run command and `manage.py` beside it."""

from __future__ import annotations

import os
import secrets
from pathlib import Path


def use_local_secret(var_dir: Path, create: bool) -> None:
    """Where SECRET_KEY is unset, take the one `make run` keeps in `var_dir/secret_key`; with
    `create`, make it first (once, readable by its owner only). A server sets SECRET_KEY
    itself, so this never reads a file there."""
    if os.environ.get("SECRET_KEY"):
        return
    path = var_dir / "secret_key"
    if create and not path.exists():
        var_dir.mkdir(parents=True, exist_ok=True)
        try:  # O_EXCL: two launchers starting at once never write two secrets
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass
        else:
            with os.fdopen(fd, "w") as out:
                out.write(secrets.token_urlsafe(50) + "\n")
    if path.exists():
        os.environ["SECRET_KEY"] = path.read_text().strip()
