"""The API's requests to the `gpu_infer` worker, through the playground's path
(`webapp/playground/inference.py`): same tasks, same Redis Streams, same limits.

A choice is one generation task (or one score task for echoed logprobs) under a fresh
request id. Choices run one after another: a user has one active generation at a time,
whether it comes from the playground or from here. `start()` returns once a worker has
taken the task (its `start` entry), so a streamed answer can still fail with a proper status
(429, 503) before the first byte; the entries then follow from `entries()`. Leaving before
the end (a client that disconnects: Django cancels the view, which closes the generator)
raises the request's cancel flag, so the engine stops within a token.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import Any

from webapp.api.errors import ApiError
from webapp.playground.inference import (
    GENERATE_TASK,
    SCORE_TASK,
    Inference,
    NoWorker,
    QueueDown,
    Refused,
    pickup_deadline,
)

Entry = tuple[str, dict[str, Any]]


def refused(exc: Refused) -> ApiError:
    return ApiError(429, str(exc), code="rate_limit_exceeded", retry_after=exc.retry_after or 1)


class TaskRun:
    """One task's stream; `start()`, then `entries()` (each at most once)."""

    def __init__(self, inference: Inference, task: str, kwargs: dict[str, Any]) -> None:
        self.inference, self.task = inference, task
        self.rid = f"api-{uuid.uuid4().hex}"
        self.kwargs = {"user_id": inference.user_id, "request_id": self.rid, **kwargs}
        self.generation = task == GENERATE_TASK
        self._stream: AsyncIterator[tuple[str, str, dict[str, Any]]] | None = None
        self.finished = False

    async def start(self) -> None:
        try:
            if self.generation:
                await self.inference.claim_slot(self.rid)
            await self.inference.enqueue(self.task, self.kwargs, self.rid, self.generation)
        except Refused as exc:
            raise refused(exc) from None
        except QueueDown as exc:
            raise ApiError(503, str(exc), code="queue_unavailable") from None
        self._stream = self.inference.entries(self.rid, pickup_deadline=pickup_deadline())
        try:
            kind, data = await self._next()  # the worker's `start`
        except BaseException:
            await self.close()
            raise
        if kind != "start":  # never: a worker writes `start` first
            raise ApiError(500, f"the token stream began with {kind!r}", code="inference_error")

    async def entries(self) -> AsyncIterator[Entry]:
        """The entries after `start` up to the last; an `error` entry raises ApiError."""
        try:
            while True:
                try:
                    kind, data = await self._next()
                except StopAsyncIteration:
                    self.finished = True
                    return
                if kind == "error":
                    self.finished = True
                    status = 400 if data.get("code") == "invalid" else 500
                    raise ApiError(status, data["message"], code="inference_error")
                yield kind, data
        finally:
            await self.close()

    async def _next(self) -> Entry:
        assert self._stream is not None
        try:
            _, kind, data = await self._stream.__anext__()
        except NoWorker as exc:
            self.finished = True  # withdrawn: the flag is set and the slot freed
            raise ApiError(503, str(exc), code="no_worker") from None
        return kind, data

    async def close(self) -> None:
        """Stop the worker if the stream was left early; a cancelled view still gets here."""
        if not self.finished:
            self.finished = True
            await asyncio.shield(self.inference.cancel(self.rid))
        if self._stream is not None:
            await self._stream.aclose()  # type: ignore[attr-defined]


def generation(inference: Inference, version_id: int, prompt: str, params: dict[str, Any],
               chat: list[dict[str, str]] | None = None) -> TaskRun:  # fmt: skip
    kwargs = {"version_ids": [version_id], "prompt": prompt, "params": params, "chat": chat}
    return TaskRun(inference, GENERATE_TASK, kwargs)


def scoring(inference: Inference, version_id: int, text: str, top_logprobs: int) -> TaskRun:
    kwargs = {"version_id": version_id, "text": text, "top_logprobs": top_logprobs}
    return TaskRun(inference, SCORE_TASK, kwargs)


async def charge(inference: Inference, cost: int) -> None:
    """Count `cost` requests against the per-minute cap shared with the playground."""
    try:
        await inference.charge(cost)
    except Refused as exc:
        raise refused(exc) from None
