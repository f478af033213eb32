"""`JobReporter`: a task's heartbeat, progress and cancel signal, and its pushes to the browser.

A background thread writes `heartbeat_at` and the latest `progress` to the job's row every
`beat_every` seconds, whatever the task is doing (a long evaluation included), so the sweep
can tell a dead worker from a slow step: the thread dies with the process. A beat that fails
(the database restarting) is logged once per outage and the next one reconnects: a blip is
not a death. The
same thread notices a cancel requested on the row (or the row swept away from `running`) and
sets `cancelled`, which the task checks cheaply. Events go to the job's Channels group through one
`EventPublisher`; a failed push is logged and dropped (the browser catches up from the row).
"""

from __future__ import annotations

import contextlib
import logging
import threading
from typing import Any

from django.db import connection

from webapp.jobs.events import EventPublisher
from webapp.system.outage import OutageLog

logger = logging.getLogger(__name__)


class JobReporter:
    def __init__(self, job: Any, group: str, beat_every: float = 3.0) -> None:
        self.job = job
        self.group = group
        self.beat_every = beat_every
        self.progress: float = job.progress
        self.cancelled = threading.Event()
        self._stop = threading.Event()
        self._publisher = EventPublisher()
        self._thread = threading.Thread(target=self._beat_loop, name=f"beat-{group}", daemon=True)
        self._thread.start()

    def _beat_loop(self) -> None:
        outage = OutageLog(logger, f"the heartbeat of {self.group}")
        try:
            while not self._stop.wait(self.beat_every):
                try:
                    alive = self.job.beat(progress=self.progress)
                    if not alive or self.job.cancel_requested():
                        self.cancelled.set()
                    outage.worked()
                except Exception as exc:  # the database restarting: beat again next time
                    outage.failed(exc)
                    _close(connection)
        finally:
            _close(connection)  # this thread's own database connection

    def push(self, event: dict[str, Any]) -> None:
        try:
            self._publisher.group_send(self.group, event)
        except Exception:  # the channel layer is an accelerator; never fail the job for it
            logger.warning("could not push %s to %s", event.get("type"), self.group, exc_info=True)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=self.beat_every + 5)
        self._publisher.close()

    def __enter__(self) -> JobReporter:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def _close(conn: Any) -> None:
    """Drop a connection (the next query reconnects); closing a dead one can raise too."""
    with contextlib.suppress(Exception):
        conn.close()
