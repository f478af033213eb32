"""Probes of the services Bottega runs on: database, Redis, and each Celery queue.

Each probe measures what it checks (milliseconds) and never raises: a failure is a result
with `ok: False` and a one-line `error`, because the status page must render exactly when
something is down.
"""

from __future__ import annotations

import time
from typing import TypedDict

import redis
from celery.exceptions import TimeoutError as CeleryTimeout
from django.conf import settings
from django.db import connection

from webapp.enqueue import send
from workers.app import app


class ServiceProbe(TypedDict):
    ok: bool
    ms: float | None
    error: str


class QueueProbe(TypedDict):
    queue: str
    ok: bool
    rtt_ms: float | None
    worker: str | None
    consumers: list[str]
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


def queue_consumers(timeout: float = 0.5) -> dict[str, list[str]]:
    """Worker names consuming each queue, from Celery's broadcast `active_queues`.

    A solo-pool worker busy with a long task cannot answer; the ping probe still tells.
    """
    consumers: dict[str, list[str]] = {q: [] for q in settings.TASK_QUEUES}
    try:
        replies = app.control.inspect(timeout=timeout).active_queues() or {}
    except Exception:
        return consumers
    for worker, queues in replies.items():
        for q in queues:
            consumers.setdefault(q["name"], []).append(worker)
    return consumers


def probe_queues(queues: tuple[str, ...] | None = None, timeout: float = 3.0) -> list[QueueProbe]:
    """Send a ping task through every queue at once and time each round trip.

    Replies are collected in queue order, so a round trip can be overstated by the wait for
    the queues before it; the status page's websocket measures each one as it arrives.
    """
    sent = {}
    for queue in queues or settings.TASK_QUEUES:
        start = time.perf_counter()
        try:
            options = {"queue": queue, "expires": timeout + 5}
            result = send("workers.tasks.ping", queue, time.time(), options=options)
        except Exception as exc:
            sent[queue] = (start, None, f"cannot enqueue: {type(exc).__name__}: {exc}")
        else:
            sent[queue] = (start, result, "")
    deadline = time.perf_counter() + timeout
    probes: list[QueueProbe] = []
    for queue, (start, result, error) in sent.items():
        probe: QueueProbe = {
            "queue": queue,
            "ok": False,
            "rtt_ms": None,
            "worker": None,
            "consumers": [],
            "error": error,
        }
        if result is not None:
            try:
                reply = result.get(timeout=max(0.01, deadline - time.perf_counter()))
                probe.update(ok=True, rtt_ms=_ms_since(start), worker=reply["worker"])
            except CeleryTimeout:
                probe["error"] = f"no worker answered within {timeout:g} s"
            except Exception as exc:
                probe["error"] = f"{type(exc).__name__}: {exc}"
            finally:
                result.forget()
        probes.append(probe)
    consumers = queue_consumers()  # after the waits, so its broadcast doesn't inflate the rtts
    for probe in probes:
        probe["consumers"] = consumers.get(probe["queue"], [])
    return probes
