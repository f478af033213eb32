"""The anatomy page (docs/architecture.md, "Anatomy"): a prompt's path through a model.

`GET /anatomy/` renders the page. `POST /anatomy/inspect` with JSON {"model_version", "text",
["position"]} answers everything the page shows (lmcore.anatomy.anatomy), `POST
/anatomy/focus` with a position only that position's attention rows, logits and embedding:
the page asks for it when the selection changes. Both run on the `gpu_infer` worker
(workers/anatomy.py) and wait for its reply on a Redis list; the views are async, so a wait
holds no server thread. Access is the playground's: versions the user may play.
"""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

import redis.asyncio as aioredis
from asgiref.sync import sync_to_async
from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET, require_POST

from webapp.enqueue import send
from webapp.playground.access import can_play, playable_versions

TASK = "workers.anatomy.inspect_text"
COMPUTE_TIMEOUT_S = 60  # after a worker took the request
REQUESTS_PER_MINUTE = 120  # a request per selection change: clicking around costs some


class BadRequest(Exception):
    pass


@require_GET
def index(request: HttpRequest) -> HttpResponse:
    versions = playable_versions(request.user).select_related("owner").order_by("name", "-version")
    limits = {"max_chars": settings.PLAYGROUND_MAX_SCORE_CHARS, "per_minute": REQUESTS_PER_MINUTE}
    return render(request, "anatomy/index.html", {"versions": versions, "limits": limits})


@require_POST
async def inspect(request: HttpRequest) -> HttpResponse:
    return await _ask(request, focus_only=False)


@require_POST
async def focus(request: HttpRequest) -> HttpResponse:
    return await _ask(request, focus_only=True)


async def _ask(request: HttpRequest, focus_only: bool) -> HttpResponse:
    try:
        version, text, position = _parse(request.body, focus_only)
    except BadRequest as exc:
        return _error(str(exc), 400)
    user_id = await sync_to_async(_player)(request, version)
    if user_id is None:
        return _error("no such model version, or it is not yours to use", 404)
    conn = aioredis.Redis.from_url(
        settings.REDIS_URL, socket_timeout=COMPUTE_TIMEOUT_S + 10, socket_connect_timeout=2
    )
    try:
        if not await _admit(conn, user_id):
            return _error(f"at most {REQUESTS_PER_MINUTE} requests a minute; wait a little", 429)
        reply_to = f"bottega:anatomy:{user_id}:{uuid.uuid4().hex}"
        task = {"reply_to": reply_to, "version_id": version, "text": text, "position": position,
                "focus_only": focus_only}  # fmt: skip
        return await _run(conn, reply_to, task)
    finally:
        await conn.aclose()


def _player(request: HttpRequest, version_id: int) -> int | None:
    """The signed-in user's id when they may play the version, else None (synchronous: the
    async views hold no model instance, docs/architecture.md "OpenAI-compatible API")."""
    user = request.user
    return user.pk if can_play(user, [version_id]) else None


async def _run(conn: aioredis.Redis, reply_to: str, task: dict[str, Any]) -> HttpResponse:
    pickup = settings.PLAYGROUND_PICKUP_TIMEOUT_S
    options = {"queue": "gpu_infer", "expires": pickup}
    try:
        await sync_to_async(send, thread_sensitive=False)(TASK, options=options, **task)
    except Exception as exc:  # the broker is down
        return _error(f"cannot reach the task queue ({type(exc).__name__}); try again", 503)
    if await conn.blpop([reply_to], timeout=pickup) is None:
        await conn.set(f"{reply_to}:cancel", "1", ex=COMPUTE_TIMEOUT_S)  # a late worker skips it
        return _error(f"no inference worker took the request within {pickup} s: the gpu_infer "
                      "worker is down or busy; try again", 503)  # fmt: skip
    reply = await conn.blpop([reply_to], timeout=COMPUTE_TIMEOUT_S)
    if reply is None:
        return _error(f"the worker did not answer within {COMPUTE_TIMEOUT_S} s", 504)
    kind, _, body = reply[1].partition(b" ")
    if kind == b"result":
        return HttpResponse(body, content_type="application/json")
    return _error(body.decode(), 422)


async def _admit(conn: aioredis.Redis, user_id: int) -> bool:
    key = f"bottega:anatomy:rate:{user_id}:{int(time.time() // 60)}"
    count, _ = await conn.pipeline().incr(key).expire(key, 120).execute()
    return count <= REQUESTS_PER_MINUTE


def _parse(body: bytes, focus_only: bool) -> tuple[int, str, int | None]:
    try:
        data = json.loads(body)
    except ValueError:
        raise BadRequest("the request body must be JSON") from None
    if not isinstance(data, dict):
        raise BadRequest("the request body must be a JSON object")
    version, text, position = data.get("model_version"), data.get("text"), data.get("position")
    if not isinstance(version, int) or isinstance(version, bool):
        raise BadRequest("model_version must be a version id")
    if not isinstance(text, str) or not text:
        raise BadRequest("text must be a non-empty string")
    if len(text) > settings.PLAYGROUND_MAX_SCORE_CHARS:
        raise BadRequest(f"text is longer than {settings.PLAYGROUND_MAX_SCORE_CHARS} characters")
    if position is not None and (not isinstance(position, int) or isinstance(position, bool)
                                 or position < 0):  # fmt: skip
        raise BadRequest("position must be a token position (0 or more)")
    if focus_only and position is None:
        raise BadRequest("position is required")
    return version, text, position


def _error(message: str, status: int) -> JsonResponse:
    return JsonResponse({"error": message}, status=status)
