"""Staff upload a zip of a `transformers` model, or a GGUF file, in chunks, as corpora are
uploaded: one kind of the upload machine (webapp/uploads/chunked.py, `MODEL_UPLOADS`;
static/js/uploader.js); a cpu task then imports it as a new version (`do_import_upload`,
lmcore/hf_import.py, lmcore/gguf_import.py). A refused file leaves its row `rejected` with the
reason, no version and no bytes on disk.
"""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path
from typing import BinaryIO

from django import forms
from django.conf import settings

from lmcore.errors import LmcoreError
from webapp.jobs.reporting import JobReporter
from webapp.registry.actions import do_import_version
from webapp.registry.models import ModelUpload
from webapp.uploads.chunked import StartForm, UploadKind, abandon_idle
from webapp.web.enqueue import enqueue

logger = logging.getLogger(__name__)

IMPORT_TASK = "workers.registry.import_model_upload"
# A GGUF download is written here first (webapp/web/backpressure.py `written_file`), then streamed.
DOWNLOAD_SCRATCH = "tmp"
# A download's file that has not changed for this long was left by a server that was killed.
LEFT_DOWNLOAD_S = 3600


def download_scratch() -> Path:
    return Path(settings.MEDIA_ROOT) / DOWNLOAD_SCRATCH


class StartModelUploadForm(StartForm):
    """A model upload's start: the model's name (the query string's `?model=`), and a zip or
    GGUF file within BOTTEGA_MODEL_MAX_UPLOAD_BYTES."""

    NAME_IT = "Name the model first: letters, numbers, underscores or hyphens."
    model = forms.SlugField(error_messages={"required": NAME_IT, "invalid": NAME_IT})

    def clean_name(self) -> str:
        name = super().clean_name()
        if not name.lower().endswith((".zip", ".gguf")):
            raise forms.ValidationError(
                f"“{name}” is not a .zip or a .gguf file: zip the model's directory and send "
                "that, or send a GGUF file."
            )
        return name

    def size_problem(self, name: str, size: int) -> str | None:
        limit = settings.MODEL_UPLOAD_MAX_BYTES
        if size <= limit:
            return None
        return (
            f"The file is {size:,} bytes; the limit is {limit:,} (BOTTEGA_MODEL_MAX_UPLOAD_BYTES)."
        )

    def columns(self) -> dict[str, str]:
        return {"name": self.cleaned_data["model"][:100]}


def do_receive_model_chunk(upload: ModelUpload, offset: int, body: BinaryIO, length: int) -> None:
    """Store one chunk; after the last, queue the import."""
    upload.store_chunk(offset, body, length)
    if upload.mark_uploaded():
        enqueue(IMPORT_TASK, upload.pk)


def _finished(upload: ModelUpload) -> str:
    return (
        f"This upload has finished ({upload.get_status_display().lower()}); there is nothing "
        "to cancel."
    )


MODEL_UPLOADS = UploadKind(
    model=ModelUpload,
    start_form=StartModelUploadForm,
    url_name="registry:upload",
    receive=do_receive_model_chunk,
    describe=ModelUpload.to_dict,
    finished=_finished,
    staff_only=True,  # only staff start imports (docs/architecture.md, "Per-user limits")
)


def do_import_upload(upload_id: int) -> ModelUpload | None:
    """The cpu task's body: unpack the zip (a GGUF file is read as it is), import it, then
    delete every copy."""
    upload = ModelUpload.objects.filter(pk=upload_id).first()
    if upload is None or not upload.start_import():
        return upload  # deleted, or another worker has it
    version, error = None, ""
    try:
        with JobReporter(upload, f"model-upload-{upload.pk}"):
            version = do_import_version(upload.owner, upload.name, _source(upload))
    except LmcoreError as exc:
        error = str(exc)
    except Exception as exc:
        logger.exception("import of model upload %s failed", upload.pk)
        error = f"internal error ({type(exc).__name__}); see the worker log"
    upload.remove_files()  # first: once the row says how it ended, no byte of it is left
    if version is not None:
        upload.mark_imported(version)
    else:
        upload.reject(error)
    return upload


def _source(upload: ModelUpload) -> Path:
    """What to import: the zip's model directory, or the GGUF under its own file name (the
    version records it) in the directory that `remove_files` deletes."""
    from lmcore.hf_import import extract_zip

    if not upload.is_gguf:
        return extract_zip(upload.upload_path, upload.unpack_dir, settings.MODEL_UPLOAD_MAX_BYTES)
    upload.unpack_dir.mkdir(parents=True, exist_ok=True)
    target = upload.unpack_dir / Path(upload.filename).name
    os.replace(upload.upload_path, target)
    return target


def do_sweep_model_uploads() -> dict[str, int]:
    """The beat's sweep of model files: uploads that stopped half way (they hold their
    owner's quota at full size) are rejected and their bytes deleted, as corpora's are; GGUF
    downloads a killed server left half written are deleted."""
    abandoned = len(abandon_idle(ModelUpload))
    left = 0
    cutoff = time.time() - LEFT_DOWNLOAD_S
    for path in download_scratch().glob("download-*.part"):
        try:
            if path.stat().st_mtime < cutoff:
                path.unlink()
                left += 1
        except FileNotFoundError:
            pass  # its download ended meanwhile
    return {"abandoned": abandoned, "downloads": left}
