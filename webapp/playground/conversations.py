"""Saved conversations: a small JSON API the playground page (static/js/conversations.js)
speaks.

GET    /playground/conversations/        {"conversations": [summary...]}, most recent first
POST   /playground/conversations/        a conversation → 201 it, with its id
GET    /playground/conversations/<id>/   {"id", "title", "mode", "model_version", "updated_at",
                                          "messages", "params"}
PUT    /playground/conversations/<id>/   the same fields → 200 it (replaces the row)
DELETE /playground/conversations/<id>/   → 204

A conversation is {"mode": "completion" | "chat", "model_version": id | null, "params": {...},
"messages": [...], ["title"]} (models.py has the shape of `messages`; transcripts.py the
checks). Refusals are `{"error": "<what to do>"}` with 400 (bad JSON, too large, bad shape, a
version the user may not play), or 404 for a conversation that is not the user's. CSRF: the
`X-CSRFToken` header.

Why HTTP and not the websocket: a save is one request with one answer, which is what HTTP and
Django's CSRF, session and test client already do well; the socket carries the token stream,
whose frames the page has already assembled by the time it saves. The page saves after each
completed answer (the row is the truth; a reload or another tab reopens it from the list).
"""

from __future__ import annotations

import json

from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.http import require_http_methods

from webapp import deletion
from webapp.playground.models import Conversation
from webapp.playground.protocol import BadMessage
from webapp.playground.transcripts import (
    MAX_CONVERSATION_BYTES,
    MAX_CONVERSATIONS,
    clean_conversation,
)
from webapp.web.access import access


def _error(message: str, status: int = 400) -> JsonResponse:
    return JsonResponse({"error": message}, status=status)


def _payload(request: HttpRequest) -> dict:
    size = int(request.headers.get("Content-Length") or 0)
    if size > MAX_CONVERSATION_BYTES:
        raise BadMessage(f"the conversation is {size:,} bytes; the limit is "
                         f"{MAX_CONVERSATION_BYTES:,}: start a new one")  # fmt: skip
    try:
        payload = json.loads(request.body, parse_constant=_no_constant)
    except ValueError:
        payload = None
    if not isinstance(payload, dict):
        raise BadMessage('send a JSON object: {"mode", "model_version", "params", "messages"}')
    return payload


def _no_constant(name: str) -> None:
    raise ValueError(f"{name} is not a number JSON allows")


@require_http_methods(["GET", "POST"])
def conversations(request: HttpRequest) -> JsonResponse:
    mine = Conversation.objects.for_user(request.user)
    if request.method == "GET":
        listed = mine.only("id", "title", "mode", "model_version_id", "updated_at")
        return JsonResponse({"conversations": [c.summary_dict() for c in listed]})
    if mine.count() >= MAX_CONVERSATIONS:
        return _error(f"you have {MAX_CONVERSATIONS} saved conversations, the most kept; "
                      "delete some to save more")  # fmt: skip
    try:
        fields = clean_conversation(request.user, _payload(request))
    except BadMessage as exc:
        return _error(str(exc))
    conversation = Conversation.objects.create(owner=request.user, **fields)
    return JsonResponse(conversation.to_dict(), status=201)


@require_http_methods(["GET", "PUT", "DELETE"])
def conversation(request: HttpRequest, pk: int) -> HttpResponse:
    try:
        found = access(request.user, Conversation, pk)
    except Http404:
        return _error("No such conversation.", 404)
    if request.method == "DELETE":
        deletion.delete(found)  # its plan refuses nothing: nothing depends on a conversation
        return HttpResponse(status=204)
    if request.method == "PUT":
        try:
            found.replace(clean_conversation(request.user, _payload(request)))
        except BadMessage as exc:
            return _error(str(exc))
    return JsonResponse(found.to_dict())
