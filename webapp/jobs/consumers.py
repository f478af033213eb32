"""`RunConsumer`: the socket of one run's page, `/ws/tokenizers/<id>/` and `/ws/runs/<id>/`.

server → first the run's state (`{"type": "run.status", ...}`, plus what `history` adds),
then every event the task pushes to the run's group. client → `{"type": "status"}` resends
the state. Only the run's owner may connect (close 4404 otherwise).
"""

from __future__ import annotations

from typing import Any

from channels.db import database_sync_to_async

from webapp.web.sockets import JsonSocketConsumer


class RunConsumer(JsonSocketConsumer):
    model: Any  # a webapp.jobs.models.Run, queried only in the synchronous methods
    accepted_types = ("status",)

    async def authorize(self, user: Any, kwargs: dict[str, Any]) -> bool:
        self.run_id = kwargs["pk"]
        return await self._owns(user)

    @database_sync_to_async
    def _owns(self, user: Any) -> bool:
        return self.model.objects.for_user(user).filter(pk=self.run_id).exists()

    def groups_for(self, user: Any) -> list[str]:
        return [self.model.group_for(self.run_id)]

    @database_sync_to_async
    def snapshot(self, with_history: bool = True) -> list[dict[str, Any]]:
        run = self.model.objects.filter(pk=self.run_id).first()
        if run is None:
            return []
        return [run.status_event(), *(self.history(run) if with_history else [])]

    def history(self, run: Any) -> list[dict[str, Any]]:
        return []

    async def handle_status(self, message: dict[str, Any]) -> None:
        for payload in await self.snapshot(with_history=False):
            await self.send_json(payload)

    run_status = JsonSocketConsumer.forward
