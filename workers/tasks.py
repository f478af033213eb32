"""Celery tasks of the system itself: the queue probe and the sweep of stale jobs."""

from __future__ import annotations

import socket
import time
from datetime import timedelta

from celery import shared_task
from django.conf import settings

from webapp.jobs.events import EventPublisher


@shared_task(name="workers.tasks.ping", ignore_result=False)
def ping(queue: str, sent_at: float, reply_channel: str | None = None) -> dict:
    """Answer a round-trip probe through `queue` (the system status page).

    With a `reply_channel` the answer also goes back through the channel layer, proving the
    whole path browser → Django → Celery → Redis → Channels → browser.
    """
    reply = {
        "queue": queue,
        "sent_at": sent_at,
        "worker": ping.request.hostname or socket.gethostname(),
        "handled_at": time.time(),
    }
    if reply_channel:
        with EventPublisher() as publisher:
            publisher.send(reply_channel, {"type": "ping.reply", **reply})
    return reply


@shared_task(name="workers.tasks.heartbeat")
def heartbeat(queue: str) -> None:
    """Beat task, one per queue: this queue has a worker that answers (/healthz reads it)."""
    from webapp.system.health import record_heartbeat

    record_heartbeat(queue, heartbeat.request.hostname or socket.gethostname())


@shared_task(name="workers.tasks.sweep_stale_jobs")
def sweep_stale_jobs() -> int:
    """Beat task: end jobs and validations whose worker stopped beating (webapp/jobs/models.py),
    delete the stopped jobs whose deletion waited for them (webapp/deletion), and wake the training queue while runs wait in it: a wake-up lost with a Redis restart
    must not leave a run queued until the next one comes (workers/training.py)."""
    from webapp.deletion import finish_requested_deletions
    from webapp.jobs.models import sweep_stale_jobs as sweep
    from workers.training import wake_if_queued

    swept = sweep(timedelta(seconds=settings.JOB_HEARTBEAT_STALE_SECONDS))
    finish_requested_deletions()  # jobs deleted while running, now stopped
    wake_if_queued()
    return swept
