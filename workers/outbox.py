"""`Outbox`: a run's events stored in order from a thread of their own, through outages.

The supervising loop must never stall on the database or Redis: a child's stdout pipe that
nobody reads fills up and blocks the trainer. So events go into an in-memory queue and one
thread stores them (`store`, a database write) and then pushes what was stored (`push`, the
channel layer). A store that fails (PostgreSQL restarting, a dropped connection) is retried
with backoff, in order, until it succeeds: nothing is lost and nothing is reordered. A push
that fails is dropped: the database has the event and a browser reloads its history from it.
"""

from __future__ import annotations

import collections
import contextlib
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from django.db import connection

logger = logging.getLogger(__name__)


def reset_connection() -> None:
    """Drop this thread's database connection after an error: the next query reconnects."""
    with contextlib.suppress(Exception):  # closing one to a server that went away can raise
        connection.close()


def retry(what: str, call: Callable[[], Any], seconds: float = 300.0) -> Any:
    """call() until it stops raising, with backoff up to 2 s, for at most `seconds`."""
    deadline, delay = time.monotonic() + seconds, 0.1
    while True:
        try:
            return call()
        except Exception:
            if time.monotonic() > deadline:
                raise
            logger.warning("%s failed; retrying in %.1f s", what, delay, exc_info=True)
            reset_connection()
            time.sleep(delay)
            delay = min(delay * 2, 2.0)


class Outbox:
    """put(item) from any thread; close() waits until everything is stored."""

    def __init__(self, store: Callable[[Any, bool], dict | None], push: Callable[[dict], None],
                 name: str = "outbox") -> None:  # fmt: skip
        self._store, self._push = store, push
        self._items: collections.deque[Any] = collections.deque()
        self._ready = threading.Condition()
        self._closing = self._abandoned = False
        self.failures = 0  # store attempts that failed (and were retried)
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def put(self, item: Any) -> None:
        with self._ready:
            self._items.append(item)
            self._ready.notify()

    def pending(self) -> int:
        return len(self._items)

    def close(self, timeout: float = 600.0) -> bool:
        """Stop once the queue is empty; False if it was not within `timeout` seconds."""
        with self._ready:
            self._closing = True
            self._ready.notify()
        self._thread.join(timeout)
        if self._thread.is_alive():
            self._abandoned = True  # the thread gives up at its next retry
            return False
        return True

    def _run(self) -> None:
        try:
            while True:
                with self._ready:
                    while not self._items and not self._closing:
                        self._ready.wait()
                    if not self._items:
                        return
                    item = self._items[0]
                payload = self._store_with_retry(item)
                if self._abandoned:
                    return
                with self._ready:
                    self._items.popleft()
                if payload is not None:
                    try:
                        self._push(payload)
                    except Exception:
                        logger.warning("push of %s dropped", payload.get("type"), exc_info=True)
        finally:
            reset_connection()

    def _store_with_retry(self, item: Any) -> dict | None:
        """store(item, retried): `retried` tells it a previous attempt may have committed
        before its answer was lost, so it should look for the row before writing another."""
        delay, retried = 0.1, False
        while True:
            try:
                return self._store(item, retried)
            except Exception:
                self.failures += 1
                if self._abandoned:
                    return None
                logger.warning("storing an event failed; retrying in %.1f s", delay, exc_info=True)
                reset_connection()
                time.sleep(delay)
                delay, retried = min(delay * 2, 2.0), True
