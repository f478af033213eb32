"""The gpu_infer worker's liveness key (webapp/playground/streams.py, `worker_key`).

A request's `start` entry names the worker process serving it; a thread of that process
refreshes `bottega:pg:worker:<id>` every second with `PLAYGROUND_WORKER_TTL_S`. A worker that
is killed (SIGKILL, out of memory, the machine gone) stops refreshing it, and the web side,
which sees the key vanish while it waits for entries, ends the stream with an error and frees
the user's slot (webapp/playground/inference.py) instead of waiting for an `end` forever.
"""

from __future__ import annotations

import logging
import os
import threading
import time
import uuid

import redis
from django.conf import settings

from webapp.playground.streams import worker_key
from webapp.system.outage import OutageLog
from workers.tokenstream import connection

logger = logging.getLogger(__name__)
BEAT_S = 1.0

_lock = threading.Lock()
_current: tuple[int, str] | None = None  # (pid, worker id): a forked child gets its own


def worker_id() -> str:
    """This process's worker id, its key set and a thread refreshing it (started once)."""
    global _current
    with _lock:
        if _current is None or _current[0] != os.getpid():
            _current = (os.getpid(), uuid.uuid4().hex)
            _beat_once(_current[1])
            thread = threading.Thread(target=_beat, args=(_current[1],), daemon=True,
                                      name="playground-liveness")  # fmt: skip
            thread.start()
        return _current[1]


_outage = OutageLog(logger, "refreshing the playground liveness key")


def _beat_once(wid: str) -> None:
    try:
        connection().set(worker_key(wid), os.getpid(), ex=settings.PLAYGROUND_WORKER_TTL_S)
        _outage.worked()
    except redis.RedisError as exc:  # Redis away for a moment: the next beat sets it again
        _outage.failed(exc)


def _beat(wid: str) -> None:
    while _current is not None and _current[1] == wid:
        time.sleep(BEAT_S)  # a heartbeat's period, not a synchronisation
        _beat_once(wid)
