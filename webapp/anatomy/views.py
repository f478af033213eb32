"""The anatomy page (docs/architecture.md, "Anatomy"): a prompt's path through a model.

`GET /anatomy/` renders the page. `POST /anatomy/inspect` with JSON {"model_version", "text",
["position"]} answers everything the page shows (lmcore.anatomy.anatomy), `POST
/anatomy/focus` with a position only that position's attention rows, logits and embedding:
the page asks for it when the selection changes. Both run on the `gpu_infer` worker
(workers/anatomy.py) through the playground's inference path (`Inference.ask`: its pickup
timeout, worker liveness and request stream), with a per-minute count of their own; the views
are async, so a wait holds no server thread. Access is the playground's: versions the user may
play.
"""

from __future__ import annotations

import json

from asgiref.sync import sync_to_async
from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET, require_POST

from webapp.playground.access import can_play, playable_versions
from webapp.playground.inference import Inference, NoWorker, QueueDown, Refused

TASK = "workers.anatomy.inspect_text"
COMPUTE_TIMEOUT_S = 60  # after a worker took the request
REQUESTS_PER_MINUTE = 120  # a request per selection change: clicking around costs some


class BadRequest(Exception):
    pass


@require_GET
def index(request: HttpRequest) -> HttpResponse:
    versions = playable_versions(request.user).select_related("owner").order_by("name", "-version")
    limits = {"max_chars": settings.PLAYGROUND_MAX_SCORE_CHARS, "per_minute": REQUESTS_PER_MINUTE}
    # A link /anatomy/?model_version=ID&text=... (or the form sent before its script ran)
    # opens with that version and prompt, and the script looks inside at once.
    asked = {"version": request.GET.get("model_version", ""), "text": request.GET.get("text")}
    return render(request, "anatomy/index.html",
                  {"versions": versions, "limits": limits, "asked": asked})  # fmt: skip


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
    task = {"version_id": version, "text": text, "position": position, "focus_only": focus_only}
    inference = Inference(user_id, per_minute=REQUESTS_PER_MINUTE, rate_name="anatomy")
    try:
        kind, data = await inference.ask(TASK, task, COMPUTE_TIMEOUT_S)
    except Refused as exc:
        response = _error(str(exc), 429)
        response["Retry-After"] = str(exc.retry_after or 1)
        return response
    except (QueueDown, NoWorker) as exc:  # no queue, no worker in time, or the worker stopped
        return _error(str(exc), 503)
    except TimeoutError:
        return _error(f"the worker did not answer within {COMPUTE_TIMEOUT_S} s", 504)
    finally:
        await inference.close()
    if kind == "anatomy":
        return HttpResponse(data["json"], content_type="application/json")
    # An lmcore refusal (too many tokens, a position outside the prompt) is the request's fault.
    return _error(data["message"], 422 if data.get("code") == "invalid" else 500)


def _player(request: HttpRequest, version_id: int) -> int | None:
    """The signed-in user's id when they may play the version, else None (synchronous: the
    async views hold no model instance, docs/architecture.md "OpenAI-compatible API")."""
    user = request.user
    return user.pk if can_play(user, [version_id]) else None


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
