"""Fail fast on bad configuration, with one line that names the setting at fault.

Called by the run command (webapp/devstack/launcher.py) before it starts anything, and by
`manage.py preflight` (the containers' entry point), so a typo in DATABASE_URL is a message,
not a crash loop.
"""

from __future__ import annotations

import os


class ConfigError(Exception):
    """str(error) is one line starting with the environment variable's name."""


def check_settings() -> None:
    """Import and set up Django; ImproperlyConfigured becomes a ConfigError."""
    import django
    from django.core.exceptions import ImproperlyConfigured

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "webapp.settings")
    try:
        django.setup()
    except ImproperlyConfigured as exc:
        raise ConfigError(str(exc)) from None


def check_database() -> None:
    from django.db import connection

    try:
        connection.ensure_connection()
    except Exception as exc:
        where = "DATABASE_URL" if os.environ.get("DATABASE_URL") else "the SQLite database"
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ConfigError(f"{where}: cannot connect ({reason})") from None


def check_redis(url: str) -> None:
    import redis

    try:
        client = redis.Redis.from_url(url, socket_connect_timeout=3, socket_timeout=3)
    except ValueError as exc:
        raise ConfigError(f"REDIS_URL: cannot reach {url} ({exc})") from None
    try:
        client.ping()
    except (redis.RedisError, ValueError) as exc:
        raise ConfigError(f"REDIS_URL: cannot reach {url} ({exc})") from None
    finally:
        client.close()
