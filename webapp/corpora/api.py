"""The upload protocol: a small JSON API the browser (static/js/uploader.js) speaks.

POST   /corpora/uploads/              {"name", "size", "last_modified"} → 201 a new upload, or
                                      200 the unfinished upload of the same file (resume)
GET    /corpora/uploads/<id>/         the upload's state: how many bytes the server has
PUT    /corpora/uploads/<id>/?offset=N  the raw bytes [N, N + Content-Length) as the body
DELETE /corpora/uploads/<id>/         cancel an unfinished upload: the row and every byte are
                                      deleted (409 once uploaded: the corpus's Delete page,
                                      which says what depends on it, deletes it)

Every answer is JSON; refusals are `{"error": "<what to do>"}` with a 4xx status (409 with
`received_bytes` when the offset is wrong, so the browser resumes from the server's count).
CSRF: the `X-CSRFToken` header, as for any unsafe request.
"""

from __future__ import annotations

import json

from django.conf import settings
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.urls import reverse
from django.views.decorators.http import require_http_methods, require_POST

from webapp import deletion
from webapp.access import access
from webapp.corpora.actions import UploadError, do_receive_chunk, do_start_upload
from webapp.corpora.forms import ChunkForm, StartUploadForm
from webapp.corpora.models import Corpus, CorpusStatus


def _state(corpus: Corpus) -> dict:
    return {
        **corpus.status_dict(),
        "upload_url": f"/corpora/uploads/{corpus.pk}/",
        "chunk_bytes": settings.CORPUS_CHUNK_BYTES,
    }


def _error(message: str, status: int = 400, **extra: object) -> JsonResponse:
    return JsonResponse({"error": message, **extra}, status=status)


@require_POST
def start_upload(request: HttpRequest) -> JsonResponse:
    try:
        payload = json.loads(request.body)
    except ValueError:
        payload = None
    if not isinstance(payload, dict):
        return _error('Send JSON: {"name": ..., "size": ..., "last_modified": ...}.')
    form = StartUploadForm(payload)
    if not form.is_valid():
        return _error(form.first_error())
    try:
        corpus, created = do_start_upload(request.user, **form.cleaned_data)
    except UploadError as exc:
        return _error(exc.message, exc.status, **exc.extra)
    return JsonResponse(_state(corpus), status=201 if created else 200)


@require_http_methods(["GET", "PUT", "DELETE"])
def upload(request: HttpRequest, pk: int) -> HttpResponse:
    try:
        corpus = access(request.user, Corpus, pk)
    except Http404:
        return _error("No such upload.", 404)
    if request.method == "PUT":
        return _put_chunk(request, corpus)
    if request.method == "DELETE":
        return _cancel(corpus)
    return JsonResponse(_state(corpus))


def _cancel(corpus: Corpus) -> HttpResponse:
    """Only an upload still receiving bytes; the deletion goes through its plan like any."""
    if corpus.status != CorpusStatus.UPLOADING:
        return _error(f"This upload has finished ({corpus.get_status_display().lower()}): "
                      f"delete the corpus from its page ({reverse('corpora:delete', args=[corpus.pk])}), "
                      "which says what depends on it.", 409, state=corpus.status)  # fmt: skip
    outcome = deletion.delete(corpus)
    if not outcome.deleted:
        return _error("; ".join(e.text for e in outcome.plan.refusals), 409, state=corpus.status)
    return HttpResponse(status=204)


def _put_chunk(request: HttpRequest, corpus: Corpus) -> JsonResponse:
    form = ChunkForm(request.GET)
    if not form.is_valid():
        return _error("Say where the chunk goes: ?offset=<bytes from the start of the file>.")
    try:
        length = int(request.headers.get("Content-Length", ""))
    except ValueError:
        return _error("The chunk needs a Content-Length header.", 411)
    try:
        do_receive_chunk(corpus, form.cleaned_data["offset"], request, length)
    except UploadError as exc:
        return _error(exc.message, exc.status, **exc.extra)
    return JsonResponse(_state(corpus))
