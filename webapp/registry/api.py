"""Model uploads (staff): the corpora's chunk protocol (webapp/corpora/api.py) for zips of
`transformers` models, which a cpu task then imports (webapp/registry/uploads.py).

POST   /models/uploads/?model=NAME   {"name", "size", "last_modified"} → 201 a new upload, or
                                     200 the unfinished upload of the same file (resume)
GET    /models/uploads/<id>/         the upload's state
PUT    /models/uploads/<id>/?offset=N  the raw bytes [N, N + Content-Length) as the body
DELETE /models/uploads/<id>/         cancel an unfinished upload: the row and every byte are
                                     deleted (409 once uploaded: an import is not cancelled)

Refusals are `{"error": "<what to do>"}` with a 4xx status, as for corpora.
"""

from __future__ import annotations

import json

from django import forms
from django.conf import settings
from django.contrib.admin.views.decorators import staff_member_required
from django.core.exceptions import ValidationError
from django.core.validators import validate_slug
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.http import require_http_methods, require_POST

from webapp import deletion
from webapp.corpora.forms import ChunkForm, StartUploadForm
from webapp.registry.models import ModelUpload, UploadStatus
from webapp.registry.uploads import do_receive_model_chunk, do_start_model_upload
from webapp.uploads import UploadError


class StartModelUploadForm(StartUploadForm):
    """The corpora's start form (a file's own name, its size), with the models' size cap."""

    def clean(self) -> dict:
        data = forms.Form.clean(self)
        size, limit = data.get("size"), settings.MODEL_UPLOAD_MAX_BYTES
        if size == 0:
            raise forms.ValidationError("The file is empty: there is nothing to upload.")
        if size is not None and size > limit:
            raise forms.ValidationError(
                f"The file is {size:,} bytes; the limit is {limit:,} "
                "(BOTTEGA_MODEL_MAX_UPLOAD_BYTES)."
            )
        return data


def _state(upload: ModelUpload) -> dict:
    return {**upload.to_dict(), "upload_url": f"/models/uploads/{upload.pk}/",
            "chunk_bytes": settings.CORPUS_CHUNK_BYTES}  # fmt: skip


def _error(message: str, status: int = 400, **extra: object) -> JsonResponse:
    return JsonResponse({"error": message, **extra}, status=status)


@staff_member_required
@require_POST
def start_upload(request: HttpRequest) -> JsonResponse:
    model_name = request.GET.get("model", "")
    try:
        validate_slug(model_name)
        payload = json.loads(request.body)
    except ValidationError:
        return _error("Name the model first: letters, numbers, underscores or hyphens.")
    except ValueError:
        payload = None
    form = StartModelUploadForm(payload if isinstance(payload, dict) else {})
    if not form.is_valid():
        return _error(form.first_error())
    data = form.cleaned_data
    try:
        upload, created = do_start_model_upload(
            request.user, model_name[:100], data["name"], data["size"], data["last_modified"]
        )
    except UploadError as exc:
        return _error(exc.message, exc.status, **exc.extra)
    return JsonResponse(_state(upload), status=201 if created else 200)


def _cancel(upload: ModelUpload) -> HttpResponse:
    """Only an upload still receiving bytes, through the deletion plan (which refuses while
    an import reads the zip, should the last chunk land meanwhile)."""
    if upload.status != UploadStatus.UPLOADING:
        return _error(f"This upload has finished ({upload.get_status_display().lower()}); there "
                      "is nothing to cancel.", 409, state=upload.status)  # fmt: skip
    outcome = deletion.delete(upload)
    if not outcome.deleted:
        return _error("; ".join(e.text for e in outcome.plan.refusals), 409, state=upload.status)
    return HttpResponse(status=204)


@staff_member_required
@require_http_methods(["GET", "PUT", "DELETE"])
def upload(request: HttpRequest, pk: int) -> HttpResponse:
    upload = ModelUpload.objects.filter(pk=pk, owner=request.user).first()
    if upload is None:
        return _error("No such upload.", 404)
    if request.method == "DELETE":
        return _cancel(upload)
    if request.method == "PUT":
        form = ChunkForm(request.GET)
        if not form.is_valid():
            return _error("Say where the chunk goes: ?offset=<bytes from the start of the file>.")
        try:
            length = int(request.headers.get("Content-Length", ""))
            do_receive_model_chunk(upload, form.cleaned_data["offset"], request, length)
        except ValueError:
            return _error("The chunk needs a Content-Length header.", 411)
        except UploadError as exc:
            return _error(exc.message, exc.status, **exc.extra)
    return JsonResponse(_state(upload))
