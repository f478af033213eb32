"""The playground page: after the first render, generation happens over /ws/playground/ and
saved conversations through api.py."""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from lmcore.config import MAX_SEED
from webapp.playground.access import playable_versions
from webapp.playground.protocol import MAX_CHAT_MESSAGES
from webapp.playground.transcripts import MAX_CONVERSATION_BYTES


@require_GET
def index(request: HttpRequest) -> HttpResponse:
    versions = playable_versions(request.user).select_related("owner").order_by("name", "-version")
    limits = {
        "max_new_tokens": settings.PLAYGROUND_MAX_NEW_TOKENS,
        "max_prompt_chars": settings.PLAYGROUND_MAX_PROMPT_CHARS,
        "max_score_chars": settings.PLAYGROUND_MAX_SCORE_CHARS,
        "per_minute": settings.PLAYGROUND_REQUESTS_PER_MINUTE,
        "max_conversation_bytes": MAX_CONVERSATION_BYTES,
        "max_seed": MAX_SEED,
        "max_chat_messages": MAX_CHAT_MESSAGES,
    }
    # Each version's own sampling defaults (its generation_config.json): the form starts from
    # them when the version is chosen, as the API and `lmcore sample` do.
    defaults = {v.pk: v.sampling_defaults for v in versions}
    return render(request, "playground/index.html",
                  {"versions": versions, "limits": limits, "defaults": defaults})  # fmt: skip
