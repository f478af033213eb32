"""`/ws/system/`: live round trips through every queue, for the status page.

client → `{"type": "ping"}`; server → `{"type": "ping.result", "queue", "rtt_ms", "worker"}`
for each queue as its worker answers through the channel layer, or `{"type": "error",
"message"}`. The round trip is measured on this process's clock, from enqueue to reply.
`worker` (the answering worker's host name) is for staff only; others get null.
"""

from __future__ import annotations

import time
from typing import Any

from asgiref.sync import sync_to_async
from django.conf import settings

from webapp.web.enqueue import send
from webapp.web.sockets import JsonSocketConsumer

PING_TASK = "workers.tasks.ping"
MAX_MESSAGE_BYTES = 1024
MIN_PING_INTERVAL_S = 0.5  # a page pings every few seconds; faster is a misbehaving client


class SystemStatusConsumer(JsonSocketConsumer):
    max_message_bytes = MAX_MESSAGE_BYTES
    accepted_types = ("ping",)
    unknown_message = 'unknown message; send {"type": "ping"}'

    async def authorize(self, user: Any, kwargs: dict[str, Any]) -> bool:
        self._last_ping = 0.0
        self._sent: dict[str, float] = {}
        self._staff = bool(getattr(user, "is_staff", False))
        return True

    async def handle_ping(self, message: dict[str, Any]) -> None:
        now = time.monotonic()
        if now - self._last_ping < MIN_PING_INTERVAL_S:
            await self.error(f"at most one ping every {MIN_PING_INTERVAL_S} s")
            return
        self._last_ping = now
        await self._enqueue_pings()

    async def _enqueue_pings(self) -> None:
        for queue in settings.TASK_QUEUES:
            self._sent[queue] = time.perf_counter()
            options = {"queue": queue, "expires": 10, "ignore_result": True}
            try:
                await sync_to_async(send, thread_sensitive=False)(
                    PING_TASK, queue, time.time(), self.channel_name, options=options
                )
            except Exception as exc:  # broker down: say so, keep the socket
                await self.error(f"cannot enqueue a ping on {queue}: {type(exc).__name__}")

    async def ping_reply(self, event: dict[str, Any]) -> None:
        queue = event["queue"]
        start = self._sent.pop(queue, None)
        rtt_ms = None if start is None else round((time.perf_counter() - start) * 1000, 2)
        await self.send_json(
            {
                "type": "ping.result",
                "queue": queue,
                "rtt_ms": rtt_ms,
                "worker": event["worker"] if self._staff else None,
            }
        )
