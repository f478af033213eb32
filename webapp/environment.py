"""How webapp/settings.py reads the environment: typed variables, the database and the channel
layer. A bad value raises `ImproperlyConfigured` whose message starts with the variable's name.
"""

from __future__ import annotations

import os
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured


def env_bool(name: str, default: bool) -> bool:
    """`name` as true/false (1/0, yes/no, on/off); unset or empty is `default`."""
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    if raw.lower() in {"1", "true", "yes", "on"}:
        return True
    if raw.lower() in {"0", "false", "no", "off"}:
        return False
    raise ImproperlyConfigured(f"{name}: expected true or false, got {raw!r}")


def env_int(name: str, default: int) -> int:
    """`name` as an integer; unset or empty is `default`."""
    raw = os.environ.get(name, "")
    try:
        return int(raw) if raw else default
    except ValueError:
        raise ImproperlyConfigured(f"{name}: expected an integer, got {raw!r}") from None


def database(var_dir: Path) -> dict:
    """The default database: DATABASE_URL, else SQLite under `var_dir`."""
    url = os.environ.get("DATABASE_URL", "")
    if not url:
        # SQLite, tuned (SQLITE_OPTIONS, below)
        var_dir.mkdir(parents=True, exist_ok=True)
        return {"ENGINE": "django.db.backends.sqlite3", "NAME": var_dir / "db.sqlite3",
                "OPTIONS": dict(SQLITE_OPTIONS)}  # fmt: skip
    try:
        config = dj_database_url.parse(url, conn_max_age=60, conn_health_checks=True)
    except Exception as exc:  # the library raises several types for malformed URLs
        raise ImproperlyConfigured(f"DATABASE_URL: cannot parse {url!r} ({exc})") from None
    if not config.get("ENGINE"):
        raise ImproperlyConfigured(f"DATABASE_URL: unsupported database URL {url!r}")
    if config["ENGINE"].endswith("sqlite3"):  # a sqlite:/// URL gets the same tuning
        config["OPTIONS"] = {**SQLITE_OPTIONS, **config.get("OPTIONS", {})}
    return config


# SQLite tuned for a web process and several workers writing job rows at once: WAL lets
# readers run beside one writer; IMMEDIATE transactions take the write lock up front, so a busy
# database waits (timeout, seconds) instead of failing on a lock upgrade.
SQLITE_OPTIONS = {
    "timeout": 20,
    "transaction_mode": "IMMEDIATE",
    "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
}


def channel_layers(url: str) -> dict:
    """The Channels layer on Redis `url` (the test fixtures point it at their own Redis).

    No client-side read timeout: redis-py 8 defaults to 5 s, the length of channels_redis's
    blocking BZPOPMIN, so every idle websocket's receive failed and dropped the socket every
    ~5 s (redis/redis-py#4091, django/channels_redis#422).
    """
    return {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {
                "hosts": [{"address": url, "socket_timeout": None}],
                "capacity": 1000,
                "expiry": 30,
            },
        }
    }
