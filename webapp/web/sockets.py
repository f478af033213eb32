"""`JsonSocketConsumer`: the rules every Bottega websocket follows.

The protocols: docs/architecture.md, "Websockets"; the rules come from "Security" there.

Sign-in required (close 4401), an ownership hook checked before subscribing (close 4404),
messages are JSON objects of bounded size with a `type` naming a `handle_<type>` method, and
every bad message is answered with `{"type": "error", "message"}` while the socket stays open.
Subclasses say which `groups()` to join and what `snapshot()` to send first, so a client that
connects late still sees the whole story.
"""

from __future__ import annotations

import json
from typing import Any

from channels.generic.websocket import AsyncWebsocketConsumer


class JsonSocketConsumer(AsyncWebsocketConsumer):
    max_message_bytes = 4096
    accepted_types: tuple[str, ...] = ()
    unknown_message = ""  # the sentence for a message of another type; default names them

    async def connect(self) -> None:
        user = self.scope["user"]
        if not user.is_authenticated:
            await self.close(code=4401)
            return
        if not await self.authorize(user, self.scope["url_route"]["kwargs"]):
            await self.close(code=4404)
            return
        self.joined: list[str] = self.groups_for(user)
        for group in self.joined:
            await self.channel_layer.group_add(group, self.channel_name)
        await self.accept()
        for payload in await self.snapshot():
            await self.send_json(payload)

    async def disconnect(self, code: int) -> None:
        for group in getattr(self, "joined", []):
            await self.channel_layer.group_discard(group, self.channel_name)

    # --- hooks -------------------------------------------------------------------------------
    async def authorize(self, user: Any, kwargs: dict[str, Any]) -> bool:
        return True

    def groups_for(self, user: Any) -> list[str]:
        return []

    async def snapshot(self) -> list[dict[str, Any]]:
        return []

    # --- messages ----------------------------------------------------------------------------
    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        if text_data is None or len(text_data) > self.max_message_bytes:
            await self.error(f"messages are JSON text of at most {self.max_message_bytes} bytes")
            return
        try:
            message = json.loads(text_data)
        except json.JSONDecodeError:
            await self.error("message is not valid JSON")
            return
        kind = message.get("type") if isinstance(message, dict) else None
        if kind not in self.accepted_types:
            expected = ", ".join(repr(t) for t in self.accepted_types) or "nothing"
            await self.error(
                self.unknown_message or f"unknown message type; this socket accepts {expected}"
            )
            return
        await getattr(self, "handle_" + kind.replace(".", "_"))(message)

    async def send_json(self, payload: dict[str, Any]) -> None:
        await self.send(text_data=json.dumps(payload))

    async def error(self, message: str) -> None:
        await self.send_json({"type": "error", "message": message})

    async def forward(self, event: dict[str, Any]) -> None:
        """Handler for group events that go to the browser as they are."""
        await self.send_json(event)
