"""`/healthz`'s queue answers: heartbeats the beat sends through each queue, kept in Redis.

Every `HEALTH_PROBE_SECONDS` the beat sends `workers.tasks.heartbeat` through each queue; the
worker that runs it records the time and its name under `bottega:health:<queue>`. A worker
whose pool is busy with long tasks (a tokenizer run on each `cpu` process) runs no heartbeat
until one ends, so each worker's main process also records that it is alive, on its own clock,
under `bottega:alive:<queue>` (workers/alive.py). A queue is `up` while its last heartbeat is
younger than `HEALTH_STALE_SECONDS`, `busy` while only its alive mark is (a worker consumes it;
tasks wait for a free process), else `down`; up and busy are healthy. So /healthz costs one
Redis MGET and one `SELECT 1` however often it is called: it enqueues nothing and waits for no
worker (docs/architecture.md, "Decisions"). The status page still measures live round trips.
"""

from __future__ import annotations

import json
import time
from typing import TypedDict

import redis
from django.conf import settings

KEY = "bottega:health:{queue}"
ALIVE_KEY = "bottega:alive:{queue}"


class QueueHealth(TypedDict):
    queue: str
    ok: bool
    state: str  # "up", "busy" (a worker is alive, its pool is full) or "down"
    age_s: float | None  # since the last heartbeat a worker of this queue answered
    worker: str | None


def record_heartbeat(queue: str, worker: str) -> None:
    """Called by the heartbeat task on a worker of `queue`."""
    _record([KEY.format(queue=queue)], worker)


def record_alive(queues: list[str], worker: str) -> None:
    """Called by a worker's main process for the queues it consumes (workers/alive.py)."""
    _record([ALIVE_KEY.format(queue=q) for q in queues], worker)


def _record(keys: list[str], worker: str) -> None:
    client = redis.Redis.from_url(settings.REDIS_URL, socket_timeout=2, socket_connect_timeout=2)
    try:
        value = json.dumps({"at": time.time(), "worker": worker})
        with client.pipeline() as pipe:
            for key in keys:
                pipe.set(key, value, ex=10 * settings.HEALTH_STALE_SECONDS)
            pipe.execute()
    finally:
        client.close()


def queue_health(client: redis.Redis) -> list[QueueHealth]:
    """Each queue's last heartbeat; raises redis.RedisError when Redis does not answer."""
    queues = list(settings.TASK_QUEUES)
    keys = [KEY.format(queue=q) for q in queues] + [ALIVE_KEY.format(queue=q) for q in queues]
    values = client.mget(keys)
    now = time.time()
    health: list[QueueHealth] = []
    for i, queue in enumerate(queues):
        beat, alive = (
            json.loads(raw) if raw else None for raw in (values[i], values[len(queues) + i])
        )
        age = round(max(0.0, now - beat["at"]), 1) if beat else None
        if age is not None and age < settings.HEALTH_STALE_SECONDS:
            state = "up"
        elif alive and now - alive["at"] < settings.HEALTH_STALE_SECONDS:
            state, beat = "busy", alive
        else:
            state = "down"
        health.append({"queue": queue, "ok": state != "down", "state": state, "age_s": age,
                       "worker": beat["worker"] if beat else None})  # fmt: skip
    return health
