"""`/ws/corpora/` (every corpus of the signed-in user) and `/ws/corpora/<id>/` (one corpus).

On connect the server first sends the current state: `{"type": "corpus.status", ...}` for
the corpus (or each of the user's latest corpora), so nothing that changed between the page's
render and the subscription is missed; then every `corpus.status` and `corpus.deleted` event.
client → `{"type": "status"}` asks for the state again; any other message gets
`{"type": "error", "message"}`. Ownership is checked before subscribing.
"""

from __future__ import annotations

from typing import Any

from channels.db import database_sync_to_async

from webapp.corpora import events, lookups
from webapp.web.sockets import JsonSocketConsumer

MAX_MESSAGE_BYTES = 1024
SNAPSHOT_LIMIT = 100  # the list page shows the latest corpora; older ones rarely change


class CorpusConsumer(JsonSocketConsumer):
    max_message_bytes = MAX_MESSAGE_BYTES
    accepted_types = ("status",)
    unknown_message = 'unknown message; send {"type": "status"}'

    async def authorize(self, user: Any, kwargs: dict[str, Any]) -> bool:
        self.corpus_id: int | None = kwargs.get("pk")
        return self.corpus_id is None or await self._owns(user, self.corpus_id)

    def groups_for(self, user: Any) -> list[str]:
        if self.corpus_id is None:
            return [events.user_group(user.pk)]
        return [events.corpus_group(self.corpus_id)]

    async def handle_status(self, message: dict[str, Any]) -> None:
        for payload in await self.snapshot():
            await self.send_json(payload)

    corpus_status = JsonSocketConsumer.forward
    corpus_deleted = JsonSocketConsumer.forward

    async def _owns(self, user: Any, pk: int) -> bool:
        return await database_sync_to_async(lookups.owned)(user, pk)

    async def snapshot(self) -> list[dict[str, Any]]:
        snapshot = database_sync_to_async(lookups.snapshot)
        return await snapshot(self.scope["user"], self.corpus_id, SNAPSHOT_LIMIT)
