"""`/v1/models`, `/v1/completions`, `/v1/chat/completions`: async views on the ASGI process
(docs/architecture.md, "OpenAI-compatible API").

Each makes one synchronous lookup (`lookups.py`: plain values, no model instance on the event
loop) that authenticates the bearer key (401), checks the body (400 naming each invalid field)
and resolves the model among what the key's user may use in the playground (404), then runs
its tasks through `choices.Plan` (429, 503 from admission and pickup; the worker's `error`
entries become 400 or 500). A streamed answer starts once the first task has been taken by a worker;
after that, an error is a `data:` chunk holding the error object.
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import aclosing
from functools import wraps
from typing import Any

from asgiref.sync import sync_to_async
from django.contrib.auth.decorators import login_not_required
from django.http import HttpRequest, HttpResponse, JsonResponse, StreamingHttpResponse
from django.views.decorators.csrf import csrf_exempt

from webapp.api import lookups
from webapp.api.choices import ChatPlan, CompletionPlan, Plan
from webapp.api.errors import ApiError
from webapp.api.schema import parse_chat, parse_completion
from webapp.api.shapes import Envelope
from webapp.playground.inference import Inference

logger = logging.getLogger(__name__)


def api_view(method: str) -> Callable:
    """Method check and OpenAI-shaped errors around an async view."""

    def decorate(view: Callable) -> Callable:
        @csrf_exempt
        @login_not_required
        @wraps(view)
        async def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            try:
                if request.method != method:
                    raise ApiError(405, f"{request.path} takes {method} requests only",
                                   code="method_not_allowed")  # fmt: skip
                return await view(request, *args, **kwargs)
            except ApiError as exc:
                return exc.response()
            except Exception:
                logger.exception("API request %s failed", request.path)
                return ApiError(500, "internal error; see the web server's log").response()

        return wrapper

    return decorate


def _key(request: HttpRequest) -> str:
    return request.headers.get("Authorization", "")


def _inference(caller: lookups.Caller) -> Inference:
    return Inference(caller.id, per_minute=caller.requests_per_minute)


@api_view("GET")
async def models(request: HttpRequest) -> JsonResponse:
    _, listed = await sync_to_async(lookups.models_for)(_key(request))
    return JsonResponse({"object": "list", "data": [m.to_dict() for m in listed]})


@api_view("GET")
async def model(request: HttpRequest, model_id: str) -> JsonResponse:
    _, listed = await sync_to_async(lookups.models_for)(_key(request))
    for found in listed:
        if found.id == model_id:
            return JsonResponse(found.to_dict())
    raise lookups.unknown_model(model_id)


@api_view("POST")
async def completions(request: HttpRequest) -> HttpResponse:
    caller, req, target = await sync_to_async(lookups.request_for)(
        _key(request), request.body, parse_completion, chat=False
    )
    plan = CompletionPlan(_inference(caller), target.version_id, req)
    return await _answer(plan, target.name, req.stream, req.include_usage)


@api_view("POST")
async def chat_completions(request: HttpRequest) -> HttpResponse:
    caller, req, target = await sync_to_async(lookups.request_for)(
        _key(request), request.body, parse_chat, chat=True
    )
    plan = ChatPlan(_inference(caller), target.version_id, req)
    return await _answer(plan, target.name, req.stream, req.include_usage)


# --- answers -----------------------------------------------------------------------------------
async def _answer(plan: Plan, model: str, stream: bool, include_usage: bool) -> HttpResponse:
    envelope = Envelope(plan.object, model)
    try:
        await plan.start()
    except BaseException:
        await plan.inference.close()
        raise
    if stream:
        response = StreamingHttpResponse(_sse(plan, envelope, include_usage),
                                         content_type="text/event-stream")  # fmt: skip
        response["Cache-Control"] = "no-cache"
        response["X-Accel-Buffering"] = "no"  # proxies must pass each chunk on at once
        return response
    try:
        choices = await plan.choices()
    finally:
        await plan.inference.close()
    return JsonResponse(envelope.wrap(choices, usage=plan.usage.to_dict()))


async def _sse(plan: Plan, envelope: Envelope, include_usage: bool) -> AsyncIterator[str]:
    chunk = Envelope(plan.chunk_object, envelope.model, envelope.id, envelope.created)
    extra = {"usage": None} if include_usage else {}
    try:
        # aclosing: Django closes this generator at a yield when the client leaves; the
        # runs inside must close too (their `finally` raises the cancel flag).
        async with aclosing(plan.chunks()) as choices:
            async for choice in choices:
                yield _event(chunk.wrap([choice], **extra))
        if include_usage:
            yield _event(chunk.wrap([], usage=plan.usage.to_dict()))
        yield "data: [DONE]\n\n"
    except ApiError as exc:
        yield _event(exc.to_dict())
    finally:
        await plan.inference.close()


def _event(payload: dict[str, Any]) -> str:
    return f"data: {json.dumps(payload, separators=(',', ':'))}\n\n"
