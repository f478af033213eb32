#!/usr/bin/env python
"""Django's command-line utility for administrative tasks."""

import os
import sys
from pathlib import Path


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "webapp.settings")
    from webapp.devstack.local_secret import use_local_secret

    # Beside `make run` (import_corpus, createsuperuser, ...): its secret in var/, if any.
    var_dir = os.environ.get("BOTTEGA_VAR_DIR") or Path(__file__).resolve().parent / "var"
    use_local_secret(Path(var_dir), create=False)
    from django.core.exceptions import ImproperlyConfigured
    from django.core.management import execute_from_command_line

    try:
        execute_from_command_line(sys.argv)
    except ImproperlyConfigured as exc:
        sys.stderr.write(f"error: {exc}\n")
        raise SystemExit(2) from None


if __name__ == "__main__":
    main()
