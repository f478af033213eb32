"""The upload API: one set of views for every kind of upload (webapp/uploads/chunked.py), a small
JSON API the browser (static/js/uploader.js) speaks. Each kind's urls.py mounts them, e.g.
the corpora's on /corpora/uploads/ and the models' (staff only) on /models/uploads/:

POST   uploads/[?model=NAME]   {"name", "size", "last_modified", ...} → 201 a new upload, or
                               200 the unfinished upload of the same file (resume)
GET    uploads/<id>/           the upload's state: how many bytes the server has
PUT    uploads/<id>/?offset=N  the raw bytes [N, N + Content-Length) as the body
DELETE uploads/<id>/           cancel an upload still receiving bytes, through the deletion
                               plan (webapp/deletion): the row and every byte are deleted;
                               409 once it has all its bytes, saying why

Every answer is JSON; refusals are `{"error": "<what happened, what to do>"}` with a 4xx
status (409 with `received_bytes` when the offset is wrong, so the browser resumes from the
server's count; 507 when the disk is full). Every door looks the row up through `access()`,
so another user's upload is a 404. CSRF: the `X-CSRFToken` header, as for any unsafe request.
"""

from __future__ import annotations

import json
from collections.abc import Callable

from django.conf import settings
from django.contrib.admin.views.decorators import staff_member_required
from django.db import transaction
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.urls import reverse
from django.views.decorators.http import require_http_methods, require_POST

from webapp import deletion
from webapp.uploads.chunked import (
    ChunkedUpload,
    ChunkForm,
    UploadError,
    UploadKind,
    do_start_upload,
)
from webapp.web.access import access

View = Callable[..., HttpResponse]


def start_view(kind: UploadKind) -> View:
    """POST uploads/: start an upload of `kind`, or resume the same file's."""

    @require_POST
    def start(request: HttpRequest) -> HttpResponse:
        payload = _json_object(request.body)
        if payload is None:
            return _error('Send JSON: {"name": ..., "size": ..., "last_modified": ...}.')
        form = kind.start_form({**payload, **request.GET.dict()})
        if not form.is_valid():
            return _error(form.first_error())
        data = form.cleaned_data
        try:
            row, created = do_start_upload(kind, request.user, data["name"], data["size"],
                                           data["last_modified"], **form.columns())  # fmt: skip
        except UploadError as exc:
            return _refused(exc)
        return JsonResponse(_state(kind, row), status=201 if created else 200)

    return staff_member_required(start) if kind.staff_only else start


def upload_view(kind: UploadKind) -> View:
    """uploads/<id>/: GET its state, PUT a chunk, DELETE to cancel."""

    @require_http_methods(["GET", "PUT", "DELETE"])
    def upload(request: HttpRequest, pk: int) -> HttpResponse:
        try:
            row = access(request.user, kind.model, pk)
        except Http404:
            return _error("No such upload.", 404)
        if request.method == "PUT":
            return _put_chunk(request, kind, row)
        if request.method == "DELETE":
            return _cancel(kind, row)
        return JsonResponse(_state(kind, row))

    return staff_member_required(upload) if kind.staff_only else upload


def _put_chunk(request: HttpRequest, kind: UploadKind, row: ChunkedUpload) -> HttpResponse:
    form = ChunkForm(request.GET)
    if not form.is_valid():
        return _error("Say where the chunk goes: ?offset=<bytes from the start of the file>.")
    length = _content_length(request)
    if length is None:
        return _error("The chunk needs a Content-Length header.", 411)
    try:
        kind.receive(row, form.cleaned_data["offset"], request, length)
    except UploadError as exc:
        return _refused(exc)
    return JsonResponse(_state(kind, row))


def _cancel(kind: UploadKind, row: ChunkedUpload) -> HttpResponse:
    """Only an upload still receiving bytes, judged under the row lock that the deletion holds
    too: a last chunk landing meanwhile (`mark_uploaded`, a conditional UPDATE) waits for it or
    has already moved the row on, so a finished upload is never deleted from here. The
    deletion goes through its plan like any (which refuses, e.g., while a model upload's last
    chunk has just queued its import)."""
    with transaction.atomic():
        row = type(row)._default_manager.select_for_update().filter(pk=row.pk).first()
        if row is None:
            return _error("No such upload.", 404)
        if row.status != row.UPLOADING:
            return _error(kind.finished(row), 409, state=row.status)
        outcome = deletion.delete(row)  # its own lock and plan: within this transaction
    if not outcome.deleted:
        return _error("; ".join(e.text for e in outcome.plan.refusals), 409, state=row.status)
    return HttpResponse(status=204)


def _state(kind: UploadKind, row: ChunkedUpload) -> dict:
    return {**kind.describe(row), "upload_url": reverse(kind.url_name, args=[row.pk]),
            "chunk_bytes": settings.CORPUS_CHUNK_BYTES}  # fmt: skip


def _json_object(body: bytes) -> dict | None:
    try:
        payload = json.loads(body)
    except ValueError:
        return None
    return payload if isinstance(payload, dict) else None


def _content_length(request: HttpRequest) -> int | None:
    try:
        return int(request.headers.get("Content-Length", ""))
    except ValueError:
        return None


def _refused(exc: UploadError) -> JsonResponse:
    return _error(exc.message, exc.status, **exc.extra)


def _error(message: str, status: int = 400, **extra: object) -> JsonResponse:
    return JsonResponse({"error": message, **extra}, status=status)
