"""`/ws/corpora/` (every corpus of the signed-in user) and `/ws/corpora/<id>/` (one corpus).

On connect the server first sends the current state: `{"type": "corpus.status", ...}` for
the corpus (or each of the user's latest corpora), so nothing that changed between the page's
render and the subscription is missed; then every `corpus.status` and `corpus.deleted` event.
client → `{"type": "status"}` asks for the state again; any other message gets
`{"type": "error", "message"}`. Ownership is checked before subscribing.
"""

from __future__ import annotations

import json
from typing import Any

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer

from webapp.corpora import events
from webapp.corpora.models import Corpus

MAX_MESSAGE_BYTES = 1024
SNAPSHOT_LIMIT = 100  # the list page shows the latest corpora; older ones rarely change


class CorpusConsumer(AsyncWebsocketConsumer):
    async def connect(self) -> None:
        user = self.scope["user"]
        if not user.is_authenticated:
            await self.close(code=4401)
            return
        self.corpus_id: int | None = self.scope["url_route"]["kwargs"].get("pk")
        if self.corpus_id is not None and not await self._owns(user, self.corpus_id):
            await self.close(code=4404)
            return
        self.group = (
            events.user_group(user.pk)
            if self.corpus_id is None
            else events.corpus_group(self.corpus_id)
        )
        await self.channel_layer.group_add(self.group, self.channel_name)
        await self.accept()
        await self._send_snapshot()

    async def disconnect(self, code: int) -> None:
        if getattr(self, "group", None):
            await self.channel_layer.group_discard(self.group, self.channel_name)

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        if text_data is None or len(text_data) > MAX_MESSAGE_BYTES:
            await self._error(f"messages are JSON text of at most {MAX_MESSAGE_BYTES} bytes")
            return
        try:
            message = json.loads(text_data)
        except json.JSONDecodeError:
            await self._error("message is not valid JSON")
            return
        if not isinstance(message, dict) or message.get("type") != "status":
            await self._error('unknown message; send {"type": "status"}')
            return
        await self._send_snapshot()

    async def corpus_status(self, event: dict[str, Any]) -> None:
        await self._send_json(event)

    async def corpus_deleted(self, event: dict[str, Any]) -> None:
        await self._send_json(event)

    @database_sync_to_async
    def _owns(self, user: Any, pk: int) -> bool:
        return Corpus.objects.for_user(user).filter(pk=pk).exists()

    @database_sync_to_async
    def _snapshot(self) -> list[dict[str, Any]]:
        corpora = Corpus.objects.for_user(self.scope["user"])
        if self.corpus_id is not None:
            corpora = corpora.filter(pk=self.corpus_id)
        return [dict(events.status_event(c)) for c in corpora[:SNAPSHOT_LIMIT]]

    async def _send_snapshot(self) -> None:
        snapshot = await self._snapshot()
        if self.corpus_id is not None and not snapshot:
            await self._send_json(dict(events.deleted_event(self.corpus_id)))
        for event in snapshot:
            await self._send_json(event)

    async def _send_json(self, payload: dict[str, Any]) -> None:
        await self.send(text_data=json.dumps(payload))

    async def _error(self, message: str) -> None:
        await self._send_json({"type": "error", "message": message})
