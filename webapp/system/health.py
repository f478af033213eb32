"""`/healthz`'s queue answers: heartbeats the beat sends through each queue, kept in Redis.

Every `HEALTH_PROBE_SECONDS` the beat sends `workers.tasks.heartbeat` through each queue; the
worker that runs it records the time and its name under `bottega:health:<queue>`. A queue is up
while its last heartbeat is younger than `HEALTH_STALE_SECONDS`. So /healthz costs one Redis
MGET and one `SELECT 1` however often it is called: it enqueues nothing and waits for no
worker (docs/architecture.md, "Decisions"). The status page still measures live round trips.
"""

from __future__ import annotations

import json
import time
from typing import TypedDict

import redis
from django.conf import settings

KEY = "bottega:health:{queue}"


class QueueHealth(TypedDict):
    queue: str
    ok: bool
    age_s: float | None  # since the last heartbeat a worker of this queue answered
    worker: str | None


def record_heartbeat(queue: str, worker: str) -> None:
    """Called by the heartbeat task on a worker of `queue`."""
    client = redis.Redis.from_url(settings.REDIS_URL, socket_timeout=2, socket_connect_timeout=2)
    try:
        value = json.dumps({"at": time.time(), "worker": worker})
        client.set(KEY.format(queue=queue), value, ex=10 * settings.HEALTH_STALE_SECONDS)
    finally:
        client.close()


def queue_health(client: redis.Redis) -> list[QueueHealth]:
    """Each queue's last heartbeat; raises redis.RedisError when Redis does not answer."""
    queues = settings.TASK_QUEUES
    values = client.mget([KEY.format(queue=q) for q in queues])
    now = time.time()
    health: list[QueueHealth] = []
    for queue, raw in zip(queues, values, strict=True):
        beat = json.loads(raw) if raw else None
        age = round(max(0.0, now - beat["at"]), 1) if beat else None
        ok = age is not None and age < settings.HEALTH_STALE_SECONDS
        health.append(
            {"queue": queue, "ok": ok, "age_s": age, "worker": beat["worker"] if beat else None}
        )
    return health
