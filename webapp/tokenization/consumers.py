"""`/ws/tokenizers/<id>/`: the run's state first, then each `run.status` as it changes."""

from __future__ import annotations

from typing import Any

from channels.db import database_sync_to_async

from webapp.sockets import JsonSocketConsumer
from webapp.tokenization.models import TokenizerRun


class TokenizerRunConsumer(JsonSocketConsumer):
    accepted_types = ("status",)

    async def authorize(self, user: Any, kwargs: dict[str, Any]) -> bool:
        self.run_id = kwargs["pk"]
        return await database_sync_to_async(
            TokenizerRun.objects.for_user(user).filter(pk=self.run_id).exists
        )()

    def groups_for(self, user: Any) -> list[str]:
        return [f"tokenizers.{self.run_id}"]

    @database_sync_to_async
    def snapshot(self) -> list[dict[str, Any]]:
        run = TokenizerRun.objects.filter(pk=self.run_id).first()
        return [{"type": "run.status", **run.status_dict()}] if run else []

    async def handle_status(self, message: dict[str, Any]) -> None:
        for payload in await self.snapshot():
            await self.send_json(payload)

    run_status = JsonSocketConsumer.forward
