"""The beat's heartbeats, sent once by a test (no beat runs beside the embedded worker)."""

import redis
from django.conf import settings

from tests.webapp.fixtures_ml import wait_for
from webapp.system.health import KEY
from webapp.web.enqueue import send


def beat_once() -> None:
    """Send every heartbeat the beat schedule sends, as the beat would, and wait until each
    queue's worker has recorded its own."""
    client = redis.Redis.from_url(settings.REDIS_URL)
    keys = [KEY.format(queue=q) for q in settings.TASK_QUEUES]
    client.delete(*keys)
    for entry in settings.CELERY_BEAT_SCHEDULE.values():
        if entry["task"] == "workers.tasks.heartbeat":
            send(entry["task"], *entry["args"], options=entry["options"])
    try:
        wait_for(lambda: all(client.mget(keys)), timeout=20, every=0.05)
    finally:
        client.close()
