"""Chunked, resumable uploads: one machine for every kind of upload (docs/architecture.md,
"How data flows", Uploads).

Corpora (webapp/corpora/) and imported models (webapp/registry/) both take a file as
`PUT ?offset=N` chunks into a partial file, through one API (webapp/uploads/views.py;
static/js/uploader.js is the browser half). A kind of upload is a concrete `ChunkedUpload`
model plus an `UploadKind` saying what differs: its start form, what follows a chunk (the
corpora sniff the first one; the last one queues a validation or an import), its API's
address and its JSON. Everything else is here, once: the start (a new upload, or the
unfinished one of the same file, to resume), the chunk checks, and the conditional UPDATEs
`claim_chunk` / `release_chunk`: of two requests for one offset exactly one claims it, and a
write that fails, whatever the reason, gives its claim back, so no byte range is counted
that was not written. Web memory per request is bounded by the chunk size; bytes go to disk
a MiB at a time.
"""

from __future__ import annotations

import errno
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any, BinaryIO, ClassVar

from django import forms
from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import models, transaction
from django.utils import timezone

from webapp.jobs.models import Tracked, new_storage_key
from webapp.web.files import FileOwner
from webapp.web.sizes import format_bytes

logger = logging.getLogger(__name__)

COPY_BYTES = 1 << 20  # request body → partial file, a block at a time
DISK_FULL = (
    "The server's disk is full, so this upload was stopped and its partial file removed. "
    "Ask an administrator to free space, then upload the file again."
)


class UploadError(Exception):
    """A request the upload protocol refuses; `status` is the HTTP status to answer with."""

    def __init__(self, message: str, status: int = 400, **extra: Any) -> None:
        super().__init__(message)
        self.message, self.status, self.extra = message, status, extra


# --- what a start and a chunk may ask for ------------------------------------------------------
class StartForm(forms.Form):
    """The file a browser is about to send: its own name (a label only), its size in bytes and
    its modification time (with name and size, what recognises the same file to resume)."""

    name = forms.CharField(max_length=255, strip=False)
    size = forms.IntegerField(min_value=0)
    last_modified = forms.IntegerField(required=False, help_text="ms since the epoch")

    def clean_name(self) -> str:
        name = self.cleaned_data["name"]
        if "/" in name or "\\" in name or name.strip() in ("", ".", ".."):
            raise forms.ValidationError(
                f"The file name “{name}” contains a path. Send the file's own name only "
                "(no “/”, “\\” or “..”); nothing was stored."
            )
        if any(ord(c) < 32 or ord(c) == 127 for c in name):
            raise forms.ValidationError("The file name contains control characters.")
        return name.strip()

    def clean(self) -> dict:
        data = super().clean()
        name, size = data.get("name"), data.get("size")
        if name is None or size is None:
            return data
        if size == 0:
            raise forms.ValidationError(f"“{name}” is empty: there is nothing to upload.")
        problem = self.size_problem(name, size)
        if problem:
            raise forms.ValidationError(problem)
        return data

    def size_problem(self, name: str, size: int) -> str | None:
        """Why a file of `size` bytes is refused (each kind has its cap), or None."""
        raise NotImplementedError

    def columns(self) -> dict[str, Any]:
        """The new row's own fields (a corpus's kind, a model's name); a resumed upload has
        the same."""
        return {}

    def first_error(self) -> str:
        return next(iter(e for errors in self.errors.values() for e in errors))


class ChunkForm(forms.Form):
    """The query string of a chunk: where its bytes go in the file."""

    offset = forms.IntegerField(min_value=0)


# --- the row --------------------------------------------------------------------------------
class UploadQuerySet(models.QuerySet):
    def for_user(self, user: Any) -> UploadQuerySet:
        """The uploads `user` owns; nobody sees another's, staff included (the admin does)."""
        if not getattr(user, "is_authenticated", False):
            return self.none()
        return self.filter(owner=user)


class ChunkedUpload(FileOwner, Tracked):
    """A file received in chunks, then read by a job (a validation, an import).

    Its `status` goes `UPLOADING → RECEIVED` (the last chunk) `→ ...`, or `REJECTED` with an
    `error`. Each subclass declares `owner`, `name`, `filename`, `status` (with these values
    among its choices), `size_bytes` (the declared size) and `fingerprint`, and its files:
    `directory`, `upload_path` (the partial file) and `owned_paths()` (webapp/web/files.py).
    They count at the declared size from the start (`stored_bytes`), so parallel uploads
    cannot overshoot a quota.
    """

    UPLOADING: ClassVar[str] = "uploading"
    RECEIVED: ClassVar[str]
    REJECTED: ClassVar[str] = "rejected"

    received_bytes = models.BigIntegerField(default=0)
    error = models.TextField(blank=True)
    storage_key = models.CharField(
        max_length=32, unique=True, default=new_storage_key, editable=False
    )
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = UploadQuerySet.as_manager()

    status: str
    size_bytes: int
    upload_path: Path

    class Meta:
        abstract = True

    def stored_bytes(self) -> int:
        """Its row's `size_bytes`: the declared size, reserved from the first request (a
        corpus's becomes the size of its stored text once ready)."""
        return self.size_bytes

    # --- transitions: each returns True when this call made it happen ------------------------
    def _transition(self, where: dict[str, Any], **fields: Any) -> bool:
        return self._update(where, updated_at=timezone.now(), **fields)

    def claim_chunk(self, offset: int, length: int) -> bool:
        """Reserve bytes [offset, offset + length): only one request can claim an offset."""
        where = {"status": self.UPLOADING, "received_bytes": offset}
        return self._transition(where, received_bytes=offset + length)

    def release_chunk(self, offset: int, length: int) -> bool:
        """Undo a claim whose bytes could not be written."""
        where = {"status": self.UPLOADING, "received_bytes": offset + length}
        return self._transition(where, received_bytes=offset)

    def reconcile_received(self) -> bool:
        """Trust the file over the row: a crash between a claim and its write left a gap."""
        on_disk = self.upload_path.stat().st_size if self.upload_path.exists() else 0
        if on_disk >= self.received_bytes:
            return False
        return self.release_chunk(on_disk, self.received_bytes - on_disk)

    def mark_uploaded(self) -> bool:
        """Every byte is in: on to the job that reads the file (True for the one call that
        moved it there)."""
        if self.received_bytes != self.size_bytes:
            return False
        where = {"status": self.UPLOADING, "received_bytes": self.size_bytes}
        return self._transition(where, status=self.RECEIVED)

    def abandon(self, error: str, idle_since: Any) -> bool:
        """Reject an upload that has had no chunk since `idle_since` (the sweep's move)."""
        where = {"status": self.UPLOADING, "updated_at__lt": idle_since}
        return self._transition(where, status=self.REJECTED, error=error)

    def reject(self, error: str, **fields: Any) -> bool:
        """Refuse the file with a message for its owner; the caller removes its files."""
        where = {"status__in": (self.UPLOADING, self.RECEIVED)}
        return self._transition(where, status=self.REJECTED, error=error, **fields)

    # --- a chunk ------------------------------------------------------------------------------
    def check_chunk(self, offset: int, length: int) -> None:
        """UploadError saying why a chunk cannot go at `offset`, if it cannot."""
        if self.status != self.UPLOADING:
            shown = self.get_status_display().lower()  # type: ignore[attr-defined]
            raise UploadError(
                f"This upload is no longer receiving data (it is {shown}).",
                status=409,
                state=self.status,  # e.g. `validating`: a retried last chunk already landed
            )
        if length <= 0:
            raise UploadError("The chunk is empty.")
        if length > settings.CORPUS_CHUNK_BYTES:
            raise UploadError(
                f"Chunks are at most {settings.CORPUS_CHUNK_BYTES:,} bytes; this one has "
                f"{length:,}.",
                status=413,
            )
        if offset + length > self.size_bytes:
            raise UploadError(
                f"This chunk ends at byte {offset + length:,}, past the file's declared size of "
                f"{self.size_bytes:,} bytes."
            )
        if offset != self.received_bytes:
            raise UploadError(
                f"Expected the chunk at offset {self.received_bytes:,}, got {offset:,}: "
                f"resume from {self.received_bytes:,}.",
                status=409,
                received_bytes=self.received_bytes,
            )

    def store_chunk(self, offset: int, body: BinaryIO, length: int) -> None:
        """Check, claim and write one chunk; UploadError if refused. A write that fails gives
        the claim back (a retry of the same chunk lands) and raises what happened."""
        self.check_chunk(offset, length)
        if not self.claim_chunk(offset, length):
            self.refresh_from_db()
            self.check_chunk(offset, length)  # says why it moved on
            raise UploadError("Another request is storing this chunk.", 409)
        try:
            _write_at(self.upload_path, offset, body, length)
        except Exception as exc:
            self.release_chunk(offset, length)
            if isinstance(exc, OSError):
                self._write_failed(exc)
            raise  # an UploadError says why; anything else is a bug: a 500, logged

    def _write_failed(self, exc: OSError) -> None:
        kind = type(self).__name__
        if exc.errno in (errno.ENOSPC, errno.EDQUOT):  # retrying cannot help: end it, clean up
            logger.error("disk full storing a chunk of %s %s: upload rejected", kind, self.pk)
            self.reject(DISK_FULL)
            self.remove_files()
            raise UploadError(DISK_FULL, 507, state=self.REJECTED) from exc
        logger.exception("cannot write a chunk of %s %s", kind, self.pk)
        raise UploadError("The server could not store this chunk; try again.", 503) from exc


def _write_at(path: Path, offset: int, body: BinaryIO, length: int) -> None:
    with path.open("r+b") as f:
        f.seek(offset)
        remaining = length
        while remaining:
            block = body.read(min(COPY_BYTES, remaining))
            if not block:
                raise UploadError(
                    f"The chunk ended after {length - remaining:,} of its {length:,} bytes; "
                    "send it again."
                )
            f.write(block)
            remaining -= len(block)


# --- a kind of upload, and its start --------------------------------------------------------
@dataclass(frozen=True)
class UploadKind:
    """What differs between kinds of upload; webapp/uploads/views.py serves each one."""

    model: type[ChunkedUpload]
    start_form: type[StartForm]
    url_name: str  # the URL of one upload: GET its state, PUT a chunk, DELETE to cancel
    receive: Callable[[Any, int, BinaryIO, int], object]  # store a chunk, and what follows
    describe: Callable[[Any], dict[str, Any]]  # the row as JSON
    finished: Callable[[Any], str]  # why a DELETE cannot cancel it once it has all its bytes
    check_room: Callable[[Any, str, int], None] | None = None  # a new upload: the quota
    staff_only: bool = False


def abandon_idle(model: type[ChunkedUpload]) -> list[ChunkedUpload]:
    """Reject `model`'s uploads that have had no chunk for CORPUS_ABANDON_HOURS
    (BOTTEGA_UPLOAD_ABANDON_HOURS) and delete the bytes they received: they held their owner's
    quota at their full size. The rows it rejected (the sweep's part, for every kind)."""
    hours = settings.CORPUS_ABANDON_HOURS
    idle_since = timezone.now() - timedelta(hours=hours)
    swept = []
    for upload in model.objects.filter(status=model.UPLOADING, updated_at__lt=idle_since):
        message = (
            f"Upload abandoned: nothing arrived for {hours} hours, so the "
            f"{format_bytes(upload.received_bytes)} received were deleted. Upload the file again."
        )
        if upload.abandon(message, idle_since):
            upload.remove_files()  # after the UPDATE: it checked no chunk came meanwhile
            swept.append(upload)
    return swept


def do_start_upload(
    kind: UploadKind,
    user: Any,
    name: str,
    size: int,
    last_modified: int | None = None,
    /,  # so that `columns` may hold a `kind` (a corpus's) or a `name` (a model's)
    **columns: Any,
) -> tuple[Any, bool]:
    """A new upload of the file `name`, `size` bytes, into a row with `columns`, or the
    unfinished upload of the same file and columns (to resume); True when it is new.

    The browser identifies a file by name, size and modification time (without the time,
    nothing resumes). `check_room` sees every new upload at its full size from the start,
    under a lock on the user's row, so parallel uploads cannot overshoot a quota.
    """
    fingerprint = f"{name}:{size}:{last_modified}" if last_modified is not None else ""
    model = kind.model
    with transaction.atomic():
        get_user_model().objects.select_for_update().filter(pk=user.pk).first()
        if fingerprint:
            existing = model.objects.filter(
                owner=user, status=model.UPLOADING, fingerprint=fingerprint, **columns
            ).first()
            if existing is not None:
                existing.reconcile_received()
                return existing, False
        if kind.check_room is not None:
            kind.check_room(user, name, size)
        label = model._meta.get_field("name").max_length
        fields = {"name": name[:label], **columns}
        row = model.objects.create(
            owner=user, filename=name, size_bytes=size, fingerprint=fingerprint, **fields
        )
        row.directory.mkdir(parents=True, exist_ok=True)
        row.upload_path.touch(exist_ok=False)
    return row, True
