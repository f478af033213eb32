"""Staff upload a zip of a `transformers` model, or a GGUF file, in chunks, as corpora are
uploaded (webapp/uploads.py, static/js/uploader.js); a cpu task then imports it as a new
version (`do_import_upload`, lmcore/hf_import.py, lmcore/gguf_import.py). A refused file
leaves its row `rejected` with the reason, no version and no bytes on disk.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any, BinaryIO

from django.conf import settings
from django.db import transaction

from lmcore.errors import LmcoreError
from webapp.enqueue import enqueue
from webapp.jobs.reporting import JobReporter
from webapp.registry.actions import do_import_version
from webapp.registry.models import ModelUpload, UploadStatus
from webapp.uploads import UploadError, store_chunk

logger = logging.getLogger(__name__)

IMPORT_TASK = "workers.registry.import_model_upload"


def do_start_model_upload(
    user: Any, model_name: str, filename: str, size: int, last_modified: int | None
) -> tuple[ModelUpload, bool]:
    """A new upload, or the unfinished one of the same file and name (to resume)."""
    if not filename.lower().endswith((".zip", ".gguf")):
        raise UploadError(
            f"“{filename}” is not a .zip or a .gguf file: zip the model's directory and send "
            "that, or send a GGUF file."
        )
    fingerprint = f"{model_name}:{filename}:{size}:{last_modified}"
    with transaction.atomic():
        existing = ModelUpload.objects.filter(
            owner=user, status=UploadStatus.UPLOADING, fingerprint=fingerprint
        ).first()
        if existing is not None:
            on_disk = existing.upload_path.stat().st_size if existing.upload_path.exists() else 0
            if on_disk < existing.received_bytes:  # a crash between a claim and its write
                existing.release_chunk(on_disk, existing.received_bytes - on_disk)
            return existing, False
        upload = ModelUpload.objects.create(
            owner=user, name=model_name, filename=filename, size_bytes=size,
            fingerprint=fingerprint,
        )  # fmt: skip
        upload.directory.mkdir(parents=True, exist_ok=True)
        upload.upload_path.touch(exist_ok=False)
    return upload, True


def do_receive_model_chunk(upload: ModelUpload, offset: int, body: BinaryIO, length: int) -> None:
    """Store one chunk; after the last, queue the import."""
    store_chunk(upload, offset, body, length, UploadStatus.UPLOADING, settings.CORPUS_CHUNK_BYTES)
    if upload.received_bytes == upload.size_bytes and upload.mark_uploaded():
        enqueue(IMPORT_TASK, upload.pk)


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
