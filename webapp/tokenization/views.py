"""Tokenizer pages: list + new run form, a run's page, and the inspector's JSON endpoints."""

from __future__ import annotations

import json

from django.contrib import messages
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from lmcore.errors import LmcoreError
from webapp.jobs.models import JobStatus
from webapp.limits.policy import LimitExceeded
from webapp.tokenization import inspector
from webapp.tokenization.actions import do_cancel_tokenizer_run, do_start_tokenizer_run
from webapp.tokenization.forms import TokenizerRunForm
from webapp.tokenization.models import TokenizerRun
from webapp.web.access import access


@require_http_methods(["GET", "POST"])
def index(request: HttpRequest) -> HttpResponse:
    form = TokenizerRunForm(
        request.POST or None, user=request.user, preset=request.GET.get("preset")
    )
    if request.method == "POST" and form.is_valid():
        try:
            return redirect(do_start_tokenizer_run(request.user, form.cleaned_data))
        except LimitExceeded as exc:  # another launch took the last slot meanwhile
            form.add_error(None, exc.message)
    runs = TokenizerRun.objects.for_user(request.user).prefetch_related("corpora")
    return render(request, "tokenization/index.html", {"form": form, "runs": runs})


@require_GET
def detail(request: HttpRequest, pk: int) -> HttpResponse:
    run = access(request.user, TokenizerRun, pk)
    context = {"run": run, "corpora": run.corpora.all(), "missing_file": run.missing_file}
    return render(request, "tokenization/detail.html", context)


@require_POST
def cancel(request: HttpRequest, pk: int) -> HttpResponse:
    run = access(request.user, TokenizerRun, pk)
    if not do_cancel_tokenizer_run(run):
        messages.error(
            request, f"This run is {run.get_status_display().lower()}: nothing to cancel."
        )
    return redirect(run)


def _ready_run(request: HttpRequest, pk: int) -> TokenizerRun | JsonResponse:
    run = access(request.user, TokenizerRun, pk)
    if run.status != JobStatus.SUCCEEDED:
        return JsonResponse({"error": "this tokenizer has not finished training"}, status=409)
    if run.missing_file:  # said, not a 500 from loading it
        return JsonResponse({"error": run.missing_file}, status=409)
    return run


@require_GET
def vocab(request: HttpRequest, pk: int) -> JsonResponse:
    run = _ready_run(request, pk)
    if isinstance(run, JsonResponse):
        return run
    try:
        page = int(request.GET.get("page", "1"))
    except ValueError:
        return JsonResponse({"error": "page must be a whole number"}, status=400)
    query = request.GET.get("q", "")[:100]
    return JsonResponse(inspector.vocab_page(run, query, page))


def _text_from(request: HttpRequest, limit: int) -> str | JsonResponse:
    try:
        body = json.loads(request.body or b"{}")
        text = body["text"]
    except (json.JSONDecodeError, KeyError, TypeError):
        return JsonResponse({"error": 'send JSON {"text": "..."}'}, status=400)
    if not isinstance(text, str):
        return JsonResponse({"error": "text must be a string"}, status=400)
    if len(text) > limit:
        return JsonResponse(
            {"error": f"at most {limit:,} characters, not {len(text):,}"}, status=400
        )
    return text


@require_POST
def encode(request: HttpRequest, pk: int) -> JsonResponse:
    run, text = _ready_run(request, pk), _text_from(request, inspector.MAX_ENCODE_CHARS)
    for bad in (run, text):
        if isinstance(bad, JsonResponse):
            return bad
    return JsonResponse(inspector.encode(run, text))


@require_POST
def trace(request: HttpRequest, pk: int) -> JsonResponse:
    # Its byte cap (lmcore.inspect_tokens.MAX_TRACE_BYTES) comes back as an LmcoreError.
    run, text = _ready_run(request, pk), _text_from(request, inspector.MAX_ENCODE_CHARS)
    for bad in (run, text):
        if isinstance(bad, JsonResponse):
            return bad
    try:
        return JsonResponse(inspector.trace(run, text))
    except LmcoreError as exc:
        return JsonResponse({"error": str(exc)}, status=400)
