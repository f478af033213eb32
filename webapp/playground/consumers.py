"""`/ws/playground/`: generate, score, cancel and resume, over one socket.

client → server
    {"type": "generate", "request_id", "model_version", "prompt", "params": {...},
     ["compare": version], ["prefix_ids": [...]], ["chat": [{"role", "content"}...]]}
    {"type": "score", "request_id", "model_version", "text"}
    {"type": "cancel", "request_id"}
    {"type": "resume", "request_id", "last_id"}   after a reconnect: entries after last_id
server → client (every message but errors carries `last_id`, the stream entry it came from)
    {"type": "started", "request_id", "streams"}
    {"type": "loading", "request_id"}   the worker is loading a model first (a second or two)
    {"type": "queued", "request_id", "stream", "position"}   the model's batch is full: this
     stream is number `position` in line for a slot (1 = next); sent again when it moves up
    {"type": "tokens", "request_id", "stream", "tokens": [{"id", "bytes", "text", "logprob",
     "sample_logprob", "top": [...]}]}
    {"type": "done", "request_id", "stream", "reason", "stats", "text"}   one per stream
    {"type": "score", "request_id", "tokens": [{"id", "bytes", "text", "logprob", "loss"}],
     "total_logprob", "bits", "bpb", "scored", "bytes"}
    {"type": "error", "request_id", "message"}

A request runs on the `gpu_infer` worker (workers/playground.py), which appends to the
request's Redis Stream (playground/streams.py); this consumer tails it with blocking XREAD
and forwards each entry. Closing the socket does not stop a generation: reconnect and send
`resume` with the last `last_id` seen (or "0-0" for everything) within
PLAYGROUND_STREAM_TTL_S. Limits: one active generation per user, a per-minute request cap,
message and prompt size caps, only playable versions (access.py).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from channels.db import database_sync_to_async
from django.conf import settings

from webapp.playground.access import can_play
from webapp.playground.inference import (
    GENERATE_TASK,
    SCORE_TASK,
    Inference,
    NoWorker,
    QueueDown,
    Refused,
    pickup_deadline,
)
from webapp.playground.protocol import BadMessage, parse_generate, parse_resume, parse_score
from webapp.playground.protocol import request_id as parse_request_id
from webapp.web.sockets import JsonSocketConsumer

logger = logging.getLogger(__name__)


class PlaygroundConsumer(JsonSocketConsumer):
    accepted_types = ("generate", "score", "cancel", "resume")

    @property
    def max_message_bytes(self) -> int:  # type: ignore[override]
        return settings.PLAYGROUND_MAX_MESSAGE_CHARS

    async def connect(self) -> None:
        self.tails: dict[str, asyncio.Task] = {}
        self.inference = Inference(self.scope["user"].pk)
        await super().connect()

    async def disconnect(self, code: int) -> None:
        for task in list(getattr(self, "tails", {}).values()):
            task.cancel()  # the generation goes on; a reconnecting client resumes it
        if getattr(self, "inference", None) is not None:
            await self.inference.close()
        await super().disconnect(code)

    @property
    def user_id(self) -> int:
        return self.scope["user"].pk

    async def fail(self, request_id: Any, message: str, **extra: Any) -> None:
        rid = request_id if isinstance(request_id, str) and len(request_id) <= 64 else None
        await self.send_json({"type": "error", "request_id": rid, "message": message, **extra})

    # --- messages ----------------------------------------------------------------------------
    async def handle_generate(self, message: dict[str, Any]) -> None:
        try:
            req = parse_generate(message)
        except BadMessage as exc:
            await self.fail(message.get("request_id"), str(exc))
            return
        rid = req["request_id"]
        if not await self._may_play(rid, req["version_ids"]) or not await self._admit(rid, True):
            return
        kwargs = {"user_id": self.user_id, **req}
        if await self._enqueue(GENERATE_TASK, kwargs, rid, holds_slot=True):
            self._follow(rid, "0-0", pickup_deadline())

    async def handle_score(self, message: dict[str, Any]) -> None:
        try:
            req = parse_score(message)
        except BadMessage as exc:
            await self.fail(message.get("request_id"), str(exc))
            return
        rid = req["request_id"]
        if not await self._may_play(rid, [req["version_id"]]) or not await self._admit(rid, False):
            return
        if await self._enqueue(SCORE_TASK, {"user_id": self.user_id, **req}, rid, holds_slot=False):
            self._follow(rid, "0-0", pickup_deadline())

    async def handle_cancel(self, message: dict[str, Any]) -> None:
        try:
            rid = parse_request_id(message)
        except BadMessage as exc:
            await self.fail(message.get("request_id"), str(exc))
            return
        await self.inference.cancel(rid)  # `done` (reason cancelled) follows

    async def handle_resume(self, message: dict[str, Any]) -> None:
        try:
            rid, last_id = parse_resume(message)
        except BadMessage as exc:
            await self.fail(message.get("request_id"), str(exc))
            return
        if not await self.inference.exists(rid):
            await self.fail(rid, f"request {rid} is unknown or expired: nothing to resume")
            return
        self._follow(rid, last_id, None)

    # --- admission ---------------------------------------------------------------------------
    async def _may_play(self, rid: str, version_ids: list[int]) -> bool:
        if await database_sync_to_async(can_play)(self.scope["user"], version_ids):
            return True
        await self.fail(rid, "no such model version, or it is not yours to use")
        return False

    async def _admit(self, rid: str, generation: bool) -> bool:
        try:
            await self.inference.admit(rid, generation)
            return True
        except Refused as exc:
            await self.fail(rid, str(exc), **exc.extra)
            return False

    async def _enqueue(self, task: str, kwargs: dict[str, Any], rid: str, holds_slot: bool) -> bool:
        try:
            await self.inference.enqueue(task, kwargs, rid, holds_slot)
            return True
        except QueueDown as exc:  # keep the socket
            await self.fail(rid, str(exc))
            return False

    # --- the stream --------------------------------------------------------------------------
    def _follow(self, rid: str, last_id: str, deadline: float | None) -> None:
        previous = self.tails.pop(rid, None)
        if previous is not None:
            previous.cancel()
        self.tails[rid] = asyncio.create_task(self._tail(rid, last_id, deadline))

    async def _tail(self, rid: str, last_id: str, deadline: float | None) -> None:
        try:
            async for entry_id, kind, data in self.inference.entries(rid, last_id, deadline):
                await self.send_json(_payload(kind, rid, entry_id, data))
        except asyncio.CancelledError:
            raise
        except NoWorker as exc:
            await self.fail(rid, str(exc))
        except Exception as exc:
            logger.exception("playground stream %s of user %s failed", rid, self.user_id)
            await self.fail(rid, f"lost the token stream ({type(exc).__name__}); resume to retry")
        finally:
            if self.tails.get(rid) is asyncio.current_task():
                del self.tails[rid]


def _payload(kind: str, rid: str, last_id: str, data: dict[str, Any]) -> dict[str, Any]:
    if kind == "error":
        return {"type": "error", "request_id": rid, "message": data["message"], "last_id": last_id}
    name = {"start": "started"}.get(kind, kind)
    return {"type": name, "request_id": rid, **data, "last_id": last_id}
