"""One user's requests to the `gpu_infer` worker: admission, enqueueing, the token stream.

Shared by `/ws/playground/` (consumers.py), the OpenAI-compatible API (`webapp/api/`), the
arena and the anatomy page (`ask`: one request, one answer), so all have the same limits and
read the same Redis Streams (docs/architecture.md, "Playground"): a fresh request id; at most
`PLAYGROUND_REQUESTS_PER_MINUTE` requests a minute (an API key's own rate; the anatomy page
counts apart, `rate_name`); one active generation per user (`SET NX` on its active key, freed
by the worker with its last entry); a request no worker starts within
`PLAYGROUND_PICKUP_TIMEOUT_S` is withdrawn (its cancel flag set, so a late worker skips it),
and so is one whose worker stops. Refusals raise `Refused` with the sentence to show and, for
limits that pass, the seconds to wait.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import aclosing
from typing import Any

import redis.asyncio as aioredis
from asgiref.sync import sync_to_async
from django.conf import settings

from webapp.playground.streams import (
    RELEASE_ACTIVE,
    active_key,
    cancel_key,
    decode_entry,
    stream_key,
    worker_key,
)
from webapp.web.enqueue import send

XREAD_BLOCK_MS = 500
LIVENESS_CHECK_S = 1.0  # while no entry comes, how often the worker's liveness key is read
LIVENESS_MISSES = 3  # consecutive misses (> 2 s: a restarted Redis gets the key back in 1 s)
INFER_QUEUE = "gpu_infer"  # what CELERY_TASK_ROUTES says; named here so a test can divert it
GENERATE_TASK = "workers.playground.generate_text"
SCORE_TASK = "workers.playground.score_text"
PROGRESS = ("start", "loading", "queued")  # entries before a request's answer


class Refused(Exception):
    """A request that is not admitted; `retry_after` (seconds) when waiting will help."""

    def __init__(self, message: str, retry_after: int | None = None, **extra: Any) -> None:
        super().__init__(message)
        self.retry_after, self.extra = retry_after, extra


class QueueDown(Exception):
    """The broker refused the task."""


class NoWorker(Exception):
    """No `gpu_infer` worker started the request in time; it has been withdrawn."""


class WorkerLost(NoWorker):
    """The worker serving the request stopped (killed, crashed); it has been withdrawn."""


class Inference:
    """A user's requests over one async Redis connection; `close()` when done."""

    def __init__(self, user_id: int, per_minute: int | None = None, rate_name: str = "pg") -> None:
        self.user_id = user_id
        self.per_minute = per_minute  # an API key's own rate; None: the setting
        self.rate_name = rate_name  # whose per-minute count: the playground's, or a page's own
        self._redis: aioredis.Redis | None = None

    @property
    def redis(self) -> aioredis.Redis:
        if self._redis is None:
            self._redis = aioredis.Redis.from_url(
                settings.REDIS_URL,
                socket_timeout=XREAD_BLOCK_MS / 1000 + 10,
                socket_connect_timeout=2,
            )
        return self._redis

    async def close(self) -> None:
        if self._redis is not None:
            await self._redis.aclose()
            self._redis = None

    # --- admission ---------------------------------------------------------------------------
    async def admit(self, rid: str, generation: bool, cost: int = 1) -> None:
        """A fresh request id, the per-minute cap (`cost` requests), then (generation) the
        user's one active slot."""
        await self.check_fresh(rid)
        await self.charge(cost)
        if generation:
            await self.claim_slot(rid)

    async def check_fresh(self, rid: str) -> None:
        if await self.redis.exists(stream_key(self.user_id, rid)):
            raise Refused(f"request_id {rid} was already used; send a new one")

    async def charge(self, cost: int = 1) -> None:
        limit = self.per_minute  # a key's own rate (None: the setting; 0 would refuse all)
        if limit is None:
            limit = settings.PLAYGROUND_REQUESTS_PER_MINUTE
        rate_key = f"bottega:{self.rate_name}:rate:{self.user_id}:{int(time.time() // 60)}"
        count, _ = (
            await self.redis.pipeline().incrby(rate_key, cost).expire(rate_key, 120).execute()
        )
        if count > limit:
            wait = 60 - int(time.time() % 60)
            raise Refused(f"at most {limit} requests a minute; try again in {wait} s", wait)

    async def claim_slot(self, rid: str) -> None:
        ttl = settings.PLAYGROUND_STREAM_TTL_S  # a safety net if a worker dies mid-answer
        if not await self.redis.set(active_key(self.user_id), rid, nx=True, ex=ttl):
            active = (await self.redis.get(active_key(self.user_id)) or b"").decode()
            raise Refused(
                f"you already have a generation running ({active}); stop it or wait for it "
                "to end", 1, active_request_id=active,
            )  # fmt: skip

    async def release_slot(self, rid: str) -> None:
        await self.redis.eval(RELEASE_ACTIVE, 1, active_key(self.user_id), rid)

    # --- tasks -------------------------------------------------------------------------------
    async def enqueue(self, task: str, kwargs: dict[str, Any], rid: str, holds_slot: bool) -> None:
        """Queue `task` on gpu_infer (by name: the web process imports no task code)."""
        try:
            options = {"queue": INFER_QUEUE, "expires": settings.PLAYGROUND_PICKUP_TIMEOUT_S}
            await sync_to_async(send, thread_sensitive=False)(task, options=options, **kwargs)
        except Exception as exc:  # broker down
            if holds_slot:
                await self.release_slot(rid)
            raise QueueDown(
                f"cannot reach the task queue ({type(exc).__name__}); try again"
            ) from exc

    async def cancel(self, rid: str) -> None:
        """Raise the request's cancel flag; the engine reads it before every forward."""
        await self.redis.set(
            cancel_key(self.user_id, rid), "1", ex=settings.PLAYGROUND_STREAM_TTL_S
        )

    async def exists(self, rid: str) -> bool:
        return bool(await self.redis.exists(stream_key(self.user_id, rid)))

    # --- the stream --------------------------------------------------------------------------
    async def entries(
        self, rid: str, last_id: str = "0-0", pickup_deadline: float | None = None
    ) -> AsyncIterator[tuple[str, str, dict[str, Any]]]:
        """(entry id, kind, data) of each entry after `last_id`, until `end` (not yielded).

        With a `pickup_deadline` (time.monotonic()), a stream still empty then is withdrawn
        and `NoWorker` raised. Once a worker started it, a worker whose liveness key is gone
        (workers/liveness.py) withdraws it too, with `WorkerLost`."""
        key = stream_key(self.user_id, rid)
        worker = await self._worker_of(key) if last_id != "0-0" else None
        next_check, misses = time.monotonic() + LIVENESS_CHECK_S, 0
        while True:
            reply = await self.redis.xread({key: last_id}, count=256, block=XREAD_BLOCK_MS)
            if not reply:
                if pickup_deadline is not None and time.monotonic() > pickup_deadline:
                    await self.withdraw(rid)
                    raise NoWorker(
                        f"no inference worker took the request within "
                        f"{settings.PLAYGROUND_PICKUP_TIMEOUT_S} s: the gpu_infer worker is down "
                        "or busy; try again"
                    )
                if worker is not None and time.monotonic() >= next_check:
                    next_check = time.monotonic() + LIVENESS_CHECK_S
                    misses = 0 if await self.redis.exists(worker_key(worker)) else misses + 1
                    if misses >= LIVENESS_MISSES:
                        await self.withdraw(rid)
                        raise WorkerLost(
                            "the inference worker stopped while answering (it crashed or was "
                            "killed); try again"
                        )
                continue
            pickup_deadline, misses = None, 0
            for entry_id, fields in reply[0][1]:
                last_id = entry_id.decode()
                kind, data = decode_entry(fields)
                if kind == "end":
                    return
                if kind == "start":
                    worker = data.pop("worker", None)
                yield last_id, kind, data

    async def _worker_of(self, key: str) -> str | None:
        """The worker named by a stream's `start` entry (resuming reads from later on)."""
        first = await self.redis.xrange(key, count=1)
        if not first:
            return None
        kind, data = decode_entry(first[0][1])
        return data.get("worker") if kind == "start" else None

    async def ask(
        self, task: str, kwargs: dict[str, Any], answer_s: float
    ) -> tuple[str, dict[str, Any]]:
        """One request with one answer (the anatomy page): admitted (no generation slot),
        queued, and its final entry's (kind, data) read as `entries` reads it (NoWorker,
        WorkerLost), within `answer_s` of a worker taking it (else TimeoutError, withdrawn).
        Nobody resumes such a request, so its stream is deleted once read."""
        rid = f"ask-{uuid.uuid4().hex}"
        await self.admit(rid, generation=False)
        await self.enqueue(task, {"user_id": self.user_id, "request_id": rid, **kwargs}, rid,
                           holds_slot=False)  # fmt: skip
        try:
            async with (
                asyncio.timeout(None) as limit,
                aclosing(self.entries(rid, pickup_deadline=pickup_deadline())) as entries,
            ):
                async for _, kind, data in entries:
                    if kind == "start":
                        limit.reschedule(asyncio.get_running_loop().time() + answer_s)
                    elif kind not in PROGRESS:
                        return kind, data
        except TimeoutError:
            await self.withdraw(rid)
            raise
        finally:
            await self.redis.delete(stream_key(self.user_id, rid))
        raise NoWorker("the inference worker ended the request without an answer; try again")

    async def withdraw(self, rid: str) -> None:
        """No worker took the request in time: make sure none runs it later, free the slot."""
        await self.cancel(rid)
        await self.release_slot(rid)


def pickup_deadline() -> float:
    return time.monotonic() + settings.PLAYGROUND_PICKUP_TIMEOUT_S
