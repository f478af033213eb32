"""`/v1/models`, `/v1/completions`, `/v1/chat/completions`: async views on the ASGI process
(docs/architecture.md, "OpenAI-compatible API").

Each authenticates the bearer key (401), checks the body (400 naming each invalid field),
resolves the model among what the key's user may use in the playground (404), then runs its
tasks through `choices.Plan` (429, 503 from admission and pickup; the worker's `error` entries
become 400 or 500). A streamed answer starts once the first task has been taken by a worker;
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

from webapp.api.choices import ChatPlan, CompletionPlan, Plan
from webapp.api.errors import ApiError
from webapp.api.models import ApiKey
from webapp.api.names import list_models, model_name, resolve
from webapp.api.schema import parse_body, parse_chat, parse_completion
from webapp.api.shapes import Envelope
from webapp.playground.inference import Inference
from webapp.registry.models import ModelVersion

logger = logging.getLogger(__name__)


def api_view(method: str) -> Callable:
    """Method check, bearer authentication and OpenAI-shaped errors around an async view
    taking (request, user, ...)."""

    def decorate(view: Callable) -> Callable:
        @csrf_exempt
        @login_not_required
        @wraps(view)
        async def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            try:
                if request.method != method:
                    raise ApiError(405, f"{request.path} takes {method} requests only",
                                   code="method_not_allowed")  # fmt: skip
                user = await _authenticate(request)
                return await view(request, user, *args, **kwargs)
            except ApiError as exc:
                return exc.response()
            except Exception:
                logger.exception("API request %s failed", request.path)
                return ApiError(500, "internal error; see the web server's log").response()

        return wrapper

    return decorate


async def _authenticate(request: HttpRequest) -> Any:
    header = request.headers.get("Authorization", "")
    scheme, _, raw = header.partition(" ")
    if scheme.lower() != "bearer" or not raw.strip():
        raise ApiError(401, "missing API key: send the header 'Authorization: Bearer KEY'; make "
                       "a key on the API keys page", code="missing_api_key")  # fmt: skip
    key = await sync_to_async(ApiKey.authenticate)(raw.strip())
    if key is None:
        raise ApiError(401, f"invalid API key ({raw.strip()[:11]}…): unknown or revoked",
                       code="invalid_api_key")  # fmt: skip
    request.api_rate = key.requests_per_minute  # type: ignore[attr-defined]  (plain int)
    return key.owner


@api_view("GET")
async def models(request: HttpRequest, user: Any) -> JsonResponse:
    listed = await sync_to_async(list_models)(user)
    return JsonResponse({"object": "list", "data": [m.to_dict() for m in listed]})


@api_view("GET")
async def model(request: HttpRequest, user: Any, model_id: str) -> JsonResponse:
    for listed in await sync_to_async(list_models)(user):
        if listed.id == model_id:
            return JsonResponse(listed.to_dict())
    raise _unknown_model(model_id)


@api_view("POST")
async def completions(request: HttpRequest, user: Any) -> HttpResponse:
    req = parse_completion(parse_body(request.body))
    version, name = await _resolve(user, req.model)
    req = req.with_model_defaults(await sync_to_async(model_defaults)(version))
    inference = Inference(user.pk, per_minute=request.api_rate)  # type: ignore[attr-defined]
    plan = CompletionPlan(inference, version.pk, req)
    return await _answer(plan, Envelope("text_completion", name), req.stream, req.include_usage)


@api_view("POST")
async def chat_completions(request: HttpRequest, user: Any) -> HttpResponse:
    req = parse_chat(parse_body(request.body))
    version, name = await _resolve(user, req.model, chat=True)
    problem = chat_template_problem(version)
    if problem:
        raise ApiError(400, f"{name}: {problem}", param="model", code="no_chat_template")
    req = req.with_model_defaults(await sync_to_async(model_defaults)(version))
    inference = Inference(user.pk, per_minute=request.api_rate)  # type: ignore[attr-defined]
    plan = ChatPlan(inference, version.pk, req)
    return await _answer(plan, Envelope("chat.completion", name), req.stream, req.include_usage)


def chat_template_problem(version: ModelVersion) -> str | None:
    """Why a version cannot chat, or None. A chat version (`is_chat`: fine-tuned on
    conversations, or imported with its own chat template) carries the template it answers
    with (lmcore/chat_config.py); a base model gets no template imposed on it."""
    if not version.is_chat:
        return ("this model has no chat template: it was not fine-tuned on conversations nor "
                "imported with one. Use /v1/completions with a plain prompt, or fine-tune a "
                "chat version of it (Models page, Fine-tune for chat)")  # fmt: skip
    return None


def model_defaults(version: ModelVersion) -> dict[str, Any]:
    """The version's own sampling defaults (lmcore/chat_config.py), {} when unreadable."""
    from lmcore.chat_config import generation_defaults

    try:
        return generation_defaults(json.loads((version.directory / "config.json").read_text()))
    except (OSError, ValueError):
        return {}  # the worker reports a version whose files are gone


async def _resolve(user: Any, model_id: str, chat: bool = False) -> tuple[ModelVersion, str]:
    version = await sync_to_async(resolve)(user, model_id, chat)
    if version is None:
        raise _unknown_model(model_id)
    return version, f"{model_name(version, user)}:v{version.version}"


def _unknown_model(model_id: str) -> ApiError:
    return ApiError(404, f"the model {model_id!r} does not exist or is not yours to use; "
                    "GET /v1/models lists those you may", param="model",
                    code="model_not_found")  # fmt: skip


# --- answers -----------------------------------------------------------------------------------
async def _answer(
    plan: Plan, envelope: Envelope, stream: bool, include_usage: bool
) -> HttpResponse:
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
        choices = await _collect(plan, envelope)
    finally:
        await plan.inference.close()
    return JsonResponse(envelope.wrap(choices, usage=plan.usage.to_dict()))


async def _collect(plan: Plan, envelope: Envelope) -> list[dict[str, Any]]:
    chat = envelope.object.startswith("chat")
    texts: dict[int, list[str]] = {}
    logprobs: dict[int, Any] = {}
    finish: dict[int, str] = {}
    async with aclosing(plan.deltas()) as deltas:  # a cancelled view closes the runs
        async for index, text, part, reason in deltas:
            texts.setdefault(index, []).append(text)
            if part is not None:
                logprobs[index] = _merge(logprobs.get(index), part)
            if reason:
                finish[index] = reason
    choices = []
    for index in sorted(texts):
        text, lp = "".join(texts[index]), logprobs.get(index)
        if chat:
            choices.append({"index": index, "finish_reason": finish.get(index, "stop"),
                            "message": {"role": "assistant", "content": text, "refusal": None},
                            "logprobs": None if lp is None else {"content": lp, "refusal": None}})  # fmt: skip
        else:
            choices.append({"index": index, "text": text, "logprobs": lp,
                            "finish_reason": finish.get(index, "stop")})  # fmt: skip
    return choices


def _merge(into: Any, part: Any) -> Any:
    if into is None:
        return part
    if isinstance(part, list):  # chat: content entries
        return into + part
    return {k: into[k] + part[k] for k in into}  # legacy: parallel lists


async def _sse(plan: Plan, envelope: Envelope, include_usage: bool) -> AsyncIterator[str]:
    chat = envelope.object.startswith("chat")
    chunk = Envelope(envelope.object + ".chunk" if chat else envelope.object, envelope.model,
                     envelope.id, envelope.created)  # fmt: skip
    extra = {"usage": None} if include_usage else {}
    opened: set[int] = set()
    try:
        # aclosing: Django closes this generator at a yield when the client leaves; the
        # runs inside must close too (their `finally` raises the cancel flag).
        async with aclosing(plan.deltas()) as deltas:
            async for index, text, part, reason in deltas:
                if chat:
                    delta: dict[str, Any] = {"content": text} if text or reason is None else {}
                    if index not in opened:
                        opened.add(index)
                        delta = {
                            "role": "assistant",
                            **({"content": text} if text else {"content": ""}),
                        }
                    choice = {"index": index, "delta": delta, "finish_reason": reason,
                              "logprobs": None if part is None else {"content": part, "refusal": None}}  # fmt: skip
                else:
                    choice = {
                        "index": index,
                        "text": text,
                        "logprobs": part,
                        "finish_reason": reason,
                    }
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
