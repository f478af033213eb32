"""The playground page: everything after the first render happens over /ws/playground/."""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from webapp.playground.access import playable_versions


@require_GET
def index(request: HttpRequest) -> HttpResponse:
    versions = playable_versions(request.user).select_related("owner").order_by("name", "-version")
    limits = {
        "max_new_tokens": settings.PLAYGROUND_MAX_NEW_TOKENS,
        "max_prompt_chars": settings.PLAYGROUND_MAX_PROMPT_CHARS,
        "max_score_chars": settings.PLAYGROUND_MAX_SCORE_CHARS,
        "per_minute": settings.PLAYGROUND_REQUESTS_PER_MINUTE,
    }
    return render(request, "playground/index.html", {"versions": versions, "limits": limits})
