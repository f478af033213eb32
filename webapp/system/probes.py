"""Probes of the services Bottega runs on: database, Redis, and each Celery queue's heartbeat.

Each probe measures what it checks (milliseconds) and never raises: a failure is a result
with `ok: False` and a one-line `error`, because the status page must render exactly when
something is down.
"""

from __future__ import annotations

import time
from typing import TypedDict

import redis
from django.conf import settings
from django.db import connection

from webapp.system.health import QueueHealth, queue_health


class ServiceProbe(TypedDict):
    ok: bool
    ms: float | None
    error: str


def _ms_since(start: float) -> float:
    return round((time.perf_counter() - start) * 1000, 2)


def probe_database() -> ServiceProbe:
    start = time.perf_counter()
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except Exception as exc:
        return {"ok": False, "ms": None, "error": f"{type(exc).__name__}: {exc}".splitlines()[0]}
    return {"ok": True, "ms": _ms_since(start), "error": ""}


def probe_redis() -> ServiceProbe:
    start = time.perf_counter()
    client = redis.Redis.from_url(settings.REDIS_URL, socket_timeout=2, socket_connect_timeout=2)
    try:
        client.ping()
    except redis.RedisError as exc:
        return {"ok": False, "ms": None, "error": f"{type(exc).__name__}: {exc}"}
    finally:
        client.close()
    return {"ok": True, "ms": _ms_since(start), "error": ""}


def probe_queue_health() -> list[QueueHealth]:
    """Each queue's last heartbeat (webapp/system/health.py); empty when Redis is down."""
    client = redis.Redis.from_url(settings.REDIS_URL, socket_timeout=2, socket_connect_timeout=2)
    try:
        return queue_health(client)
    except redis.RedisError:
        return []
    finally:
        client.close()
