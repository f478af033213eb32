"""Each worker's own "alive" mark for /healthz, written from its main process.

The beat's heartbeat task proves a queue's tasks get through, but a worker whose pool
processes are all busy (a long tokenizer run on each) runs it only when one frees up, and
would read as down. So every worker started from the command line records, every
`HEALTH_PROBE_SECONDS`, that it is alive and which queues it consumes, from a thread of its
main process, which no task occupies (webapp/system/health.py reads both marks).
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from celery.signals import worker_ready, worker_shutdown
from django.conf import settings

from webapp.system.outage import OutageLog

logger = logging.getLogger(__name__)
_stop = threading.Event()
_outage = OutageLog(logger, "recording that this worker is alive")  # one line per outage


@worker_ready.connect
def _start(sender: Any = None, **kwargs: Any) -> None:
    queues = [q.name for q in getattr(getattr(sender, "task_consumer", None), "queues", None) or []]
    if not queues:
        return
    hostname = getattr(sender, "hostname", None) or "worker"
    _stop.clear()
    threading.Thread(target=_loop, args=(queues, hostname), name="alive", daemon=True).start()


@worker_shutdown.connect
def _end(**kwargs: Any) -> None:
    _stop.set()


def _loop(queues: list[str], hostname: str) -> None:
    from webapp.system.health import record_alive

    while True:
        try:
            record_alive(queues, hostname)
            _outage.worked()
        except Exception as exc:  # Redis away: /readyz says so by itself; try again next time
            _outage.failed(exc)
        if _stop.wait(settings.HEALTH_PROBE_SECONDS):
            return
