"""Tasks of the playground on the `gpu_infer` queue: generate (one or two versions side by side)
and score. Each writes its request's token stream (workers/tokenstream.py); the websocket
consumer tails it.

Generation is served by the worker's inference loops (workers/inference.py): one thread per
loaded model decodes all of that model's streams in one batch per step. `generate_text`
checks the request, writes `start`, hands each stream to its model's loop and returns; the
loop writes the rest. Sampling settings were validated by the consumer; they are checked
again here (cheap) before any model is loaded, as every caller of lmcore does. Scoring runs
in the task's thread on the loop's loaded model (the model keeps no state between forwards).
"""

from __future__ import annotations

import logging
from typing import Any

from celery import shared_task
from celery.signals import worker_shutting_down
from django.conf import settings

from lmcore.errors import LmcoreError
from workers.inference import Stream, registry
from workers.liveness import worker_id
from workers.loaded_model import Loaded
from workers.tokenstream import Reply, connection

logger = logging.getLogger(__name__)


@shared_task(name="workers.playground.generate_text")  # routed to gpu_infer (settings)
def generate_text(
    user_id: int, request_id: str, version_ids: list[int], prompt: str, params: dict[str, Any],
    prefix_ids: list[int] | None = None, chat: list[dict[str, str]] | None = None,
    fit_context: bool = False,
) -> None:  # fmt: skip
    from lmcore.sampling import SamplingParams

    reply = Reply(user_id, request_id, streams=len(version_ids))
    reply.add("start", {"streams": len(version_ids), "worker": worker_id()})
    try:  # before loading: a bad setting fails fast
        SamplingParams.from_dict(params).validate(settings.PLAYGROUND_MAX_NEW_TOKENS)
    except LmcoreError as exc:
        reply.fail(str(exc), "invalid")
        reply.flush()
        return
    if connection().exists(reply.cancel_key):  # withdrawn (e.g. no worker in time)
        for stream in range(len(version_ids)):
            reply.finish_stream({"stream": stream, "reason": "cancelled", "stats": {}, "text": ""})
        reply.flush()
        return
    if not all(registry.is_ready(v) for v in version_ids):
        reply.add("loading", {})  # the page says so for the second or two it takes
    reply.flush()  # before a loop can write a stream's first token
    for index, version_id in enumerate(version_ids):
        # Same settings (seed included) for each version: that is the point of side by side.
        stream = Stream(reply, index, prompt, params, prefix_ids or [], chat, fit_context)
        registry.submit(version_id, stream)


@shared_task(name="workers.playground.score_text")  # routed to gpu_infer (settings)
def score_text(
    user_id: int, request_id: str, version_id: int, text: str, top_logprobs: int = 0
) -> None:
    reply = Reply(user_id, request_id)
    reply.add("start", {"streams": 1, "worker": worker_id()})
    if not registry.is_ready(version_id):
        reply.add("loading", {})
    reply.flush()
    try:
        reply.finish("score", _score(version_id, text, top_logprobs))
    except LmcoreError as exc:  # the request cannot be served as asked (code: "invalid")
        reply.fail(str(exc), "invalid")
    except Exception as exc:
        logger.exception("playground request %s failed", request_id)
        reply.fail(f"internal error ({type(exc).__name__}); see the worker log", "internal")
    reply.flush()


def _score(version_id: int, text: str, top_logprobs: int = 0) -> dict[str, Any]:
    from lmcore.score import score

    loop = registry.acquire(version_id)
    try:
        loaded = loop.wait_loaded()
        result = score(loaded.model, loaded.bytes_table, loaded.tokenizer.encode(text),
                       loaded.bos_id, top_logprobs)  # fmt: skip
    finally:
        registry.release(loop)
    for token in result["tokens"]:
        token["loss"] = None if token["logprob"] is None else -token["logprob"]
    return dict(result)


@worker_shutting_down.connect
def _finish_streams(**_: Any) -> None:
    """Tasks return before their streams end: give the loops time to finish them."""
    registry.shutdown(grace_s=settings.PLAYGROUND_SHUTDOWN_GRACE_S)


def load_model(version_id: int) -> Loaded:
    """The loaded model of a version, loading it if needed (its loop's thread loads it). For
    a short use beside the loop, as score does (the model keeps no state between forwards)."""
    loop = registry.acquire(version_id)
    try:
        return loop.wait_loaded()
    finally:
        registry.release(loop)


def clear_cache() -> None:
    """Forget every loaded model (tests)."""
    registry.clear()
