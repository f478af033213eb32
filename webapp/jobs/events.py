"""Publishing events from a task to Channels groups or channels, from one event loop.

`async_to_sync` per event would create an event loop (and a Redis connection pool) per call;
a task that reports many events instead opens one `EventPublisher` for its lifetime.

One publisher serves several threads: a training run's supervisor pushes its progress while
the run's outbox thread pushes the events it stored (workers/training.py). An event loop runs
in one thread at a time (asyncio does not support more), so each send holds a lock for its
turn on the loop. Without it, two threads pushing at once through one publisher saw "This
event loop is already running" on about half of their pushes, and each refused push left its
task behind in the loop, holding a Redis connection, until the pool ran out.

A send waits at most `PUSH_TIMEOUT_S`: the layer's connections have no read timeout (an idle
websocket's blocking receive needs none, webapp/environment.py), so a Redis that accepts but
never answers (stopped, or behind a dead link) would otherwise hold the caller forever.
"""

from __future__ import annotations

import asyncio
import threading
from typing import Any

from channels.layers import get_channel_layer

PUSH_TIMEOUT_S = 5.0


class EventPublisher:
    """Send messages to the channel layer from synchronous task code, from any thread.

    >>> with EventPublisher() as pub: pub.group_send("run.7", {"type": "run.status", ...})
    """

    def __init__(self, timeout: float = PUSH_TIMEOUT_S) -> None:
        self._runner = asyncio.Runner()
        self._layer = get_channel_layer()
        self._turn = threading.Lock()  # the loop runs in one thread at a time
        self._timeout = timeout

    def send(self, channel: str, message: dict[str, Any]) -> None:
        self._run(self._layer.send(channel, message))

    def group_send(self, group: str, message: dict[str, Any]) -> None:
        self._run(self._layer.group_send(group, message))

    def _run(self, coroutine: Any) -> None:
        """Raises TimeoutError when the layer did not answer within the timeout."""
        with self._turn:
            self._runner.run(asyncio.wait_for(coroutine, self._timeout))

    def close(self) -> None:
        # channels_redis wraps loop.close() to release this loop's connection pool.
        with self._turn:
            self._runner.close()

    def __enter__(self) -> EventPublisher:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
