"""`/ws/runs/<id>/` (DESIGN §6): first the run's state and its whole history, then live events.

History: `{"type": "run.history", "events": [run.metrics | run.sample, ...]}` in the order the
trainer reported them (one message, so the chart draws once); then `run.status`,
`run.metrics` and `run.sample` as they happen. client → `{"type": "status"}` resends the state.
"""

from __future__ import annotations

from typing import Any

from channels.db import database_sync_to_async

from webapp.sockets import JsonSocketConsumer
from webapp.training.models import TrainingRun


class TrainingRunConsumer(JsonSocketConsumer):
    accepted_types = ("status",)

    async def authorize(self, user: Any, kwargs: dict[str, Any]) -> bool:
        self.run_id = kwargs["pk"]
        return await database_sync_to_async(
            TrainingRun.objects.for_user(user).filter(pk=self.run_id).exists
        )()

    def groups_for(self, user: Any) -> list[str]:
        return [f"runs.{self.run_id}"]

    @database_sync_to_async
    def snapshot(self) -> list[dict[str, Any]]:
        run = TrainingRun.objects.filter(pk=self.run_id).first()
        if run is None:
            return []
        history = [event.payload() for event in run.events.all()]
        return [
            {"type": "run.status", **run.status_dict()},
            {"type": "run.history", "events": history},
        ]

    @database_sync_to_async
    def _status(self) -> list[dict[str, Any]]:
        run = TrainingRun.objects.filter(pk=self.run_id).first()
        return [{"type": "run.status", **run.status_dict()}] if run else []

    async def handle_status(self, message: dict[str, Any]) -> None:
        for payload in await self._status():
            await self.send_json(payload)

    run_status = JsonSocketConsumer.forward
    run_metrics = JsonSocketConsumer.forward
    run_sample = JsonSocketConsumer.forward
