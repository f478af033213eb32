"""`/ws/system/`: live round trips through every queue, for the status page.

client → `{"type": "ping"}`; server → `{"type": "ping.result", "queue", "rtt_ms", "worker"}`
for each queue as its worker answers through the channel layer, or `{"type": "error",
"message"}`. The round trip is measured on this process's clock, from enqueue to reply.
"""

from __future__ import annotations

import json
import time
from typing import Any

from asgiref.sync import sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer

from workers.app import QUEUES
from workers.tasks import ping

MAX_MESSAGE_BYTES = 1024
MIN_PING_INTERVAL_S = 0.5  # a page pings every few seconds; faster is a misbehaving client


class SystemStatusConsumer(AsyncWebsocketConsumer):
    async def connect(self) -> None:
        if not self.scope["user"].is_authenticated:
            await self.close(code=4401)
            return
        self._last_ping = 0.0
        self._sent: dict[str, float] = {}
        await self.accept()

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        if text_data is None or len(text_data) > MAX_MESSAGE_BYTES:
            await self._error(f"messages are JSON text of at most {MAX_MESSAGE_BYTES} bytes")
            return
        try:
            message = json.loads(text_data)
        except json.JSONDecodeError:
            await self._error("message is not valid JSON")
            return
        if not isinstance(message, dict) or message.get("type") != "ping":
            await self._error('unknown message; send {"type": "ping"}')
            return
        now = time.monotonic()
        if now - self._last_ping < MIN_PING_INTERVAL_S:
            await self._error(f"at most one ping every {MIN_PING_INTERVAL_S} s")
            return
        self._last_ping = now
        await self._enqueue_pings()

    async def _enqueue_pings(self) -> None:
        for queue in QUEUES:
            self._sent[queue] = time.perf_counter()
            try:
                await sync_to_async(ping.apply_async, thread_sensitive=False)(
                    kwargs={
                        "queue": queue,
                        "sent_at": time.time(),
                        "reply_channel": self.channel_name,
                    },
                    queue=queue,
                    expires=10,
                    ignore_result=True,
                )
            except Exception as exc:  # broker down: say so, keep the socket
                await self._error(f"cannot enqueue a ping on {queue}: {type(exc).__name__}")

    async def ping_reply(self, event: dict[str, Any]) -> None:
        queue = event["queue"]
        start = self._sent.pop(queue, None)
        rtt_ms = None if start is None else round((time.perf_counter() - start) * 1000, 2)
        await self.send_json(
            {
                "type": "ping.result",
                "queue": queue,
                "rtt_ms": rtt_ms,
                "worker": event["worker"],
            }
        )

    async def send_json(self, payload: dict[str, Any]) -> None:
        await self.send(text_data=json.dumps(payload))

    async def _error(self, message: str) -> None:
        await self.send_json({"type": "error", "message": message})
