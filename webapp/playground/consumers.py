"""`/ws/playground/` (DESIGN §6): generate, score, cancel and resume, over one socket.

client → server
    {"type": "generate", "request_id", "model_version", "prompt", "params": {...},
     ["compare": version], ["prefix_ids": [...]], ["chat": [{"role", "content"}...]]}
    {"type": "score", "request_id", "model_version", "text"}
    {"type": "cancel", "request_id"}
    {"type": "resume", "request_id", "last_id"}   after a reconnect: entries after last_id
server → client (every message but errors carries `last_id`, the stream entry it came from)
    {"type": "started", "request_id", "streams"}
    {"type": "tokens", "request_id", "stream", "tokens": [{"id", "bytes", "text", "logprob",
     "sample_logprob", "top": [...]}]}
    {"type": "done", "request_id", "stream", "reason", "stats", "text"}   one per stream
    {"type": "score", "request_id", "tokens": [{"id", "bytes", "text", "logprob", "loss"}],
     "total_logprob", "bits", "bpb", "scored", "bytes"}
    {"type": "error", "request_id", "message"}

A request runs on the `gpu_infer` worker (workers/playground.py), which appends to the
request's Redis Stream (workers/tokenstream.py); this consumer tails it with blocking XREAD
and forwards each entry. Closing the socket does not stop a generation: reconnect and send
`resume` with the last `last_id` seen (or "0-0" for everything) within
PLAYGROUND_STREAM_TTL_S. Limits: one active generation per user, a per-minute request cap,
message and prompt size caps, only playable versions (access.py).
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

import redis.asyncio as aioredis
from asgiref.sync import sync_to_async
from channels.db import database_sync_to_async
from django.conf import settings

from webapp.playground.access import can_play
from webapp.playground.protocol import BadMessage, parse_generate, parse_resume, parse_score
from webapp.playground.protocol import request_id as parse_request_id
from webapp.sockets import JsonSocketConsumer
from workers.playground import generate_text, score_text
from workers.tokenstream import RELEASE_ACTIVE, active_key, cancel_key, decode_entry, stream_key

logger = logging.getLogger(__name__)
XREAD_BLOCK_MS = 500
INFER_QUEUE = "gpu_infer"


class PlaygroundConsumer(JsonSocketConsumer):
    accepted_types = ("generate", "score", "cancel", "resume")

    @property
    def max_message_bytes(self) -> int:  # type: ignore[override]
        return settings.PLAYGROUND_MAX_MESSAGE_CHARS

    async def connect(self) -> None:
        self.tails: dict[str, asyncio.Task] = {}
        self._redis: aioredis.Redis | None = None
        await super().connect()

    async def disconnect(self, code: int) -> None:
        for task in list(getattr(self, "tails", {}).values()):
            task.cancel()  # the generation goes on; a reconnecting client resumes it
        if getattr(self, "_redis", None) is not None:
            await self._redis.aclose()
        await super().disconnect(code)

    @property
    def redis(self) -> aioredis.Redis:
        if self._redis is None:
            self._redis = aioredis.Redis.from_url(
                settings.REDIS_URL,
                socket_timeout=XREAD_BLOCK_MS / 1000 + 10,
                socket_connect_timeout=2,
            )
        return self._redis

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
        if await self._enqueue(generate_text, kwargs, rid, active=True):
            self._follow(rid, "0-0", time.monotonic() + settings.PLAYGROUND_PICKUP_TIMEOUT_S)

    async def handle_score(self, message: dict[str, Any]) -> None:
        try:
            req = parse_score(message)
        except BadMessage as exc:
            await self.fail(message.get("request_id"), str(exc))
            return
        rid = req["request_id"]
        if not await self._may_play(rid, [req["version_id"]]) or not await self._admit(rid, False):
            return
        if await self._enqueue(score_text, {"user_id": self.user_id, **req}, rid, active=False):
            self._follow(rid, "0-0", time.monotonic() + settings.PLAYGROUND_PICKUP_TIMEOUT_S)

    async def handle_cancel(self, message: dict[str, Any]) -> None:
        try:
            rid = parse_request_id(message)
        except BadMessage as exc:
            await self.fail(message.get("request_id"), str(exc))
            return
        # The engine reads the flag before every forward; `done` (reason cancelled) follows.
        await self.redis.set(
            cancel_key(self.user_id, rid), "1", ex=settings.PLAYGROUND_STREAM_TTL_S
        )

    async def handle_resume(self, message: dict[str, Any]) -> None:
        try:
            rid, last_id = parse_resume(message)
        except BadMessage as exc:
            await self.fail(message.get("request_id"), str(exc))
            return
        if not await self.redis.exists(stream_key(self.user_id, rid)):
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
        """A fresh request id, the per-minute cap, then (generation) the one active slot."""
        uid, limit = self.user_id, settings.PLAYGROUND_REQUESTS_PER_MINUTE
        if await self.redis.exists(stream_key(uid, rid)):
            await self.fail(rid, f"request_id {rid} was already used; send a new one")
            return False
        rate_key = f"bottega:pg:rate:{uid}:{int(time.time() // 60)}"
        count, _ = await self.redis.pipeline().incr(rate_key).expire(rate_key, 120).execute()
        if count > limit:
            wait = 60 - int(time.time() % 60)
            await self.fail(rid, f"at most {limit} requests a minute; try again in {wait} s")
            return False
        if generation:
            ttl = settings.PLAYGROUND_STREAM_TTL_S  # a safety net if a worker dies mid-answer
            if not await self.redis.set(active_key(uid), rid, nx=True, ex=ttl):
                active = (await self.redis.get(active_key(uid)) or b"").decode()
                await self.fail(rid, f"you already have a generation running ({active}); stop it "
                                "or wait for it to end", active_request_id=active)  # fmt: skip
                return False
        return True

    async def _enqueue(self, task: Any, kwargs: dict[str, Any], rid: str, active: bool) -> bool:
        try:
            await sync_to_async(task.apply_async, thread_sensitive=False)(
                kwargs=kwargs, queue=INFER_QUEUE, expires=settings.PLAYGROUND_PICKUP_TIMEOUT_S
            )
            return True
        except Exception as exc:  # broker down: say so, keep the socket
            if active:
                await self.redis.eval(RELEASE_ACTIVE, 1, active_key(self.user_id), rid)
            await self.fail(rid, f"cannot reach the task queue ({type(exc).__name__}); try again")
            return False

    # --- the stream --------------------------------------------------------------------------
    def _follow(self, rid: str, last_id: str, pickup_deadline: float | None) -> None:
        previous = self.tails.pop(rid, None)
        if previous is not None:
            previous.cancel()
        self.tails[rid] = asyncio.create_task(self._tail(rid, last_id, pickup_deadline))

    async def _tail(self, rid: str, last_id: str, pickup_deadline: float | None) -> None:
        key = stream_key(self.user_id, rid)
        try:
            while True:
                reply = await self.redis.xread({key: last_id}, count=256, block=XREAD_BLOCK_MS)
                if not reply:
                    if pickup_deadline is not None and time.monotonic() > pickup_deadline:
                        await self._withdraw(rid)
                        return
                    continue
                pickup_deadline = None
                for entry_id, fields in reply[0][1]:
                    last_id = entry_id.decode()
                    kind, data = decode_entry(fields)
                    if kind == "end":
                        return
                    await self.send_json(_payload(kind, rid, last_id, data))
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            logger.exception("playground stream %s failed", key)
            await self.fail(rid, f"lost the token stream ({type(exc).__name__}); resume to retry")
        finally:
            if self.tails.get(rid) is asyncio.current_task():
                del self.tails[rid]

    async def _withdraw(self, rid: str) -> None:
        """No worker took the request in time: make sure none runs it later, free the slot."""
        uid = self.user_id
        await self.redis.set(cancel_key(uid, rid), "1", ex=settings.PLAYGROUND_STREAM_TTL_S)
        await self.redis.eval(RELEASE_ACTIVE, 1, active_key(uid), rid)
        await self.fail(rid, f"no inference worker took the request within "
                        f"{settings.PLAYGROUND_PICKUP_TIMEOUT_S} s: the gpu_infer worker is down "
                        "or busy; try again")  # fmt: skip


def _payload(kind: str, rid: str, last_id: str, data: dict[str, Any]) -> dict[str, Any]:
    if kind == "error":
        return {"type": "error", "request_id": rid, "message": data["message"], "last_id": last_id}
    name = {"start": "started"}.get(kind, kind)
    return {"type": name, "request_id": rid, **data, "last_id": last_id}
