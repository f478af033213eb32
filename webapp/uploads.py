"""Chunked, resumable uploads: the part of the protocol every kind of upload shares.

Corpora (webapp/corpora/) and imported models (webapp/registry/) both take a file as
`PUT ?offset=N` chunks into a partial file (static/js/uploader.js is the browser half).
A row being uploaded has `status`, `size_bytes`, `received_bytes`, `upload_path` and the
conditional UPDATEs `claim_chunk(offset, length)` / `release_chunk(offset, length)`:
of two requests for one offset exactly one claims it, and a write that fails gives its
claim back. Web memory per request is bounded by the chunk size; bytes go to disk a MiB at
a time.
"""

from __future__ import annotations

import errno
import logging
from pathlib import Path
from typing import Any, BinaryIO

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


def write_at(path: Path, offset: int, body: BinaryIO, length: int) -> None:
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


def check_chunk(row: Any, offset: int, length: int, uploading: str, max_chunk: int) -> None:
    """UploadError saying why a chunk cannot go at `offset`, if it cannot."""
    if row.status != uploading:
        raise UploadError(
            f"This upload is no longer receiving data (it is {row.get_status_display().lower()}).",
            status=409,
            state=row.status,  # e.g. `validating`: a retried last chunk already landed
        )
    if length <= 0:
        raise UploadError("The chunk is empty.")
    if length > max_chunk:
        raise UploadError(
            f"Chunks are at most {max_chunk:,} bytes; this one has {length:,}.", status=413
        )
    if offset + length > row.size_bytes:
        raise UploadError(
            f"This chunk ends at byte {offset + length:,}, past the file's declared size of "
            f"{row.size_bytes:,} bytes."
        )
    if offset != row.received_bytes:
        raise UploadError(
            f"Expected the chunk at offset {row.received_bytes:,}, got {offset:,}: "
            f"resume from {row.received_bytes:,}.",
            status=409,
            received_bytes=row.received_bytes,
        )


def store_chunk(
    row: Any, offset: int, body: BinaryIO, length: int, uploading: str, max_chunk: int
) -> None:
    """Check, claim and write one chunk (see the module docstring); UploadError if refused."""
    check_chunk(row, offset, length, uploading, max_chunk)
    if not row.claim_chunk(offset, length):
        row.refresh_from_db()
        check_chunk(row, offset, length, uploading, max_chunk)  # says why it moved on
        raise UploadError("Another request is storing this chunk.", 409)
    try:
        write_at(row.upload_path, offset, body, length)
    except (OSError, UploadError) as exc:
        row.release_chunk(offset, length)
        if isinstance(exc, UploadError):
            raise
        if exc.errno in (errno.ENOSPC, errno.EDQUOT):  # retrying cannot help: end it, clean up
            logger.error("disk full storing a chunk of %s %s: upload rejected", type(row).__name__,
                         row.pk)  # fmt: skip
            row.reject(DISK_FULL)
            row.remove_files()
            raise UploadError(DISK_FULL, 507, state="rejected") from exc
        logger.exception("cannot write a chunk of %s %s", type(row).__name__, row.pk)
        raise UploadError("The server could not store this chunk; try again.", 503) from exc
