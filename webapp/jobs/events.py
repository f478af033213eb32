"""Publishing events from a task to Channels groups or channels, from one event loop.

`async_to_sync` per event would create an event loop (and a Redis connection pool) per call;
a task that reports many events instead opens one `EventPublisher` for its lifetime.
"""

from __future__ import annotations

import asyncio
from typing import Any

from channels.layers import get_channel_layer


class EventPublisher:
    """Send messages to the channel layer from synchronous task code.

    >>> with EventPublisher() as pub: pub.group_send("run.7", {"type": "run.status", ...})
    """

    def __init__(self) -> None:
        self._runner = asyncio.Runner()
        self._layer = get_channel_layer()

    def send(self, channel: str, message: dict[str, Any]) -> None:
        self._runner.run(self._layer.send(channel, message))

    def group_send(self, group: str, message: dict[str, Any]) -> None:
        self._runner.run(self._layer.group_send(group, message))

    def close(self) -> None:
        # channels_redis wraps loop.close() to release this loop's connection pool.
        self._runner.close()

    def __enter__(self) -> EventPublisher:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
