"""What happens to corpora: take a chunk, validate, rename, delete, sweep.

A corpus upload is one kind of the upload machine (webapp/uploads/chunked.py, `CORPUS_UPLOADS`): this
module adds what is a corpus's own (the quota, the sniffed first chunk, the validation the
last one queues). Views and the management command validate their input, then call one of
these; the tasks in workers/corpora.py call `do_validate_corpus` and `do_sweep_uploads`. Each
keeps the row and the files in step: a refused or abandoned file leaves its row (`rejected`,
with the reason) and no bytes on disk.
"""

from __future__ import annotations

import logging
import time
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

from django.conf import settings
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone

from webapp.corpora import events
from webapp.corpora.events import Send
from webapp.corpora.forms import StartUploadForm
from webapp.corpora.models import Corpus, CorpusKind, CorpusStatus
from webapp.corpora.sniff import HEAD_BYTES, Rejected, sniff_head
from webapp.jobs.reporting import JobReporter
from webapp.limits import storage
from webapp.limits.policy import limits_for
from webapp.uploads.chunked import UploadError, UploadKind, abandon_idle, do_start_upload
from webapp.web.enqueue import enqueue
from webapp.web.sizes import format_sizes

if TYPE_CHECKING:
    from webapp.corpora.scan import ScanResult

logger = logging.getLogger(__name__)

EVENT_EVERY_S = 0.5  # validation progress pushed to pages
VALIDATE_TASK = "workers.corpora.validate_corpus"


def _publish(corpus: Corpus, send: Send | None) -> None:
    events.publish(send, corpus.owner_id, corpus.pk, events.status_event(corpus))


# --- uploads (the machine is webapp/uploads/chunked.py's; here is what is a corpus's own) ---------------
def _check_room(user: Any, name: str, size: int) -> None:
    """A new upload counts at its full size from the start (webapp/uploads/chunked.py holds the lock
    on the user's row), so parallel uploads cannot overshoot the quota."""
    quota = limits_for(user).storage_bytes
    if quota is None:
        return
    used = storage.used_bytes(user)
    if used + size > quota:
        shown, used_shown, quota_shown = format_sizes(size, used, quota)
        raise UploadError(
            f"“{name}” ({shown}) does not fit in your quota: you use {used_shown} of "
            f"{quota_shown}. Delete what you no longer need (the Storage page lists it), "
            "or ask an administrator for more space.",
            status=413,
        )


def _finished(corpus: Corpus) -> str:
    return (
        f"This upload has finished ({corpus.get_status_display().lower()}): delete the corpus "
        f"from its page ({reverse('corpora:delete', args=[corpus.pk])}), which says what "
        "depends on it."
    )


def do_receive_chunk(
    corpus: Corpus,
    offset: int,
    body: BinaryIO,
    length: int,
    send: Send | None = events.web_send,
    queue: bool = True,
) -> Corpus:
    """Store `length` bytes of `body` at `offset` (`ChunkedUpload.store_chunk`: of two
    requests for one offset exactly one writes); the first is sniffed, the last queues the
    validation."""
    _check_quota(corpus, send)
    try:
        corpus.store_chunk(offset, body, length)
    except UploadError as exc:
        if exc.status == 507:  # disk full: rejected, tell the open pages
            _publish(corpus, send)
        raise
    if offset == 0:
        _sniff_start(corpus, send)
    if corpus.mark_uploaded() and queue:
        enqueue(VALIDATE_TASK, corpus.pk)
    if corpus.status != CorpusStatus.UPLOADING or _crossed_tenth(corpus, length):
        _publish(corpus, send)
    return corpus


CORPUS_UPLOADS = UploadKind(
    model=Corpus,
    start_form=StartUploadForm,
    url_name="corpora:upload",
    receive=do_receive_chunk,
    describe=Corpus.status_dict,
    finished=_finished,
    check_room=_check_room,
)


def _check_quota(corpus: Corpus, send: Send | None) -> None:
    """Before a chunk's bytes are read: refuse the upload, deleting what it received, when its
    owner is now over quota (the upload counts at its declared size; a run's checkpoints or a
    lowered quota may have taken the room it had at the start)."""
    if corpus.status != CorpusStatus.UPLOADING:
        return  # `store_chunk` says why no chunk goes in
    quota = limits_for(corpus.owner).storage_bytes
    if quota is None:
        return
    used = storage.used_bytes(corpus.owner)
    if used > quota:
        message = storage.over_quota_message(used, quota, "Upload stopped")
        _reject(corpus, message, send)
        raise UploadError(message, status=413)


def _crossed_tenth(corpus: Corpus, length: int) -> bool:
    """True when this chunk took the upload past another 10 % (other pages see progress)."""
    before = (corpus.received_bytes - length) * 10 // corpus.size_bytes
    return corpus.received_bytes * 10 // corpus.size_bytes != before


def _sniff_start(corpus: Corpus, send: Send | None) -> None:
    """Refuse a file whose first bytes already show it isn't text, before the rest is sent."""
    with corpus.upload_path.open("rb") as f:
        head = f.read(HEAD_BYTES)
    try:
        sniff_head(head, complete=corpus.received_bytes == corpus.size_bytes)
    except Rejected as exc:
        _reject(corpus, exc.message, send)
        raise UploadError(exc.message, status=422) from None


def _reject(corpus: Corpus, message: str, send: Send | None, **kwargs: Any) -> Corpus:
    corpus.remove_files()  # first: once the row says `rejected`, no byte of it is left
    if corpus.reject(message, **kwargs):
        _publish(corpus, send)
    return corpus


# --- validation (the cpu task) ------------------------------------------------------------------
class _Gone(Exception):
    """The corpus was deleted (or swept) while it was being validated."""


def _on_progress(corpus: Corpus, reporter: JobReporter, send: Send | None):
    """The scan's callback: progress for the heartbeat thread, a push every 0.5 s."""
    last_event = time.monotonic()

    def on_progress(done: int, total: int) -> None:
        nonlocal last_event
        if reporter.cancelled.is_set():  # the row was deleted or swept
            raise _Gone
        corpus.progress = reporter.progress = done / total if total else 1.0
        if time.monotonic() - last_event >= EVENT_EVERY_S:
            last_event = time.monotonic()
            _publish(corpus, send)

    return on_progress


def do_validate_corpus(corpus_id: int, send: Send | None = None) -> Corpus | None:
    """Validate and measure an uploaded corpus: `validating → ready | rejected`.

    Returns the corpus, or None when it no longer exists. Runs at most once per corpus.
    """
    from webapp.corpora.scan import scan_file  # numpy: only workers need it, not the web process

    corpus = Corpus.objects.filter(pk=corpus_id).first()
    if corpus is None or not corpus.start_validation():
        return corpus
    _publish(corpus, send)
    try:
        with JobReporter(corpus, events.corpus_group(corpus.pk)) as reporter:
            on_progress = _on_progress(corpus, reporter, send)
            result = scan_file(corpus.upload_path, corpus.rewrite_path, on_progress)
            if corpus.is_conversations:
                text = corpus.rewrite_path if result.rewritten else corpus.upload_path
                result.stats["conversations"] = check_conversations(text)
    except Rejected as exc:
        return _reject(corpus, exc.message, send)
    except (_Gone, FileNotFoundError):
        if Corpus.objects.filter(pk=corpus.pk, status=CorpusStatus.VALIDATING).exists():
            message = (  # the row is there, its bytes aren't: a worker on another machine
                "The uploaded bytes are missing on the worker's disk (MEDIA_ROOT must be storage "
                "shared by the web and worker machines). Upload the file again."
            )
            return _reject(corpus, message, send)
        corpus.remove_files()
        return None
    except Exception:
        logger.exception("validation of corpus %s failed", corpus.pk)
        message = "Validation failed because of an error on the server; upload the file again."
        return _reject(corpus, message, send)
    return _store(corpus, result, send)


def check_conversations(path: Path) -> dict[str, int]:
    """Every line of a conversation dataset, checked by lmcore (lmcore/conversations.py);
    Rejected with the first bad line's number and reason."""
    from lmcore.conversations import Limits, scan
    from lmcore.errors import LmcoreError

    limits = Limits(max_chars=settings.CONVERSATION_MAX_CHARS)
    try:
        return scan(path, limits).to_dict()
    except LmcoreError as exc:
        raise Rejected(f"{exc}. Nothing was stored; fix the file and upload it again.") from None


def _duplicate_message(twin: Corpus) -> str:
    return (
        f"You already have this text as “{twin.name}”; nothing new was stored. "
        "Use that corpus, or delete it first to upload it again."
    )


def _store(corpus: Corpus, result: ScanResult, send: Send | None) -> Corpus | None:
    twins = Corpus.objects.filter(owner_id=corpus.owner_id, status=CorpusStatus.READY)
    twin = twins.filter(sha256=result.sha256).first()
    if twin is not None:
        return _reject(corpus, _duplicate_message(twin), send, duplicate_of=twin)
    (corpus.rewrite_path if result.rewritten else corpus.upload_path).replace(corpus.path)
    try:
        with transaction.atomic():
            stored = corpus.mark_ready(result.sha256, dict(result.stats), result.notice)
    except IntegrityError:  # an identical upload became ready a moment ago
        twin = twins.get(sha256=result.sha256)
        return _reject(corpus, _duplicate_message(twin), send, duplicate_of=twin)
    if not stored:  # deleted meanwhile
        corpus.remove_files()
        return None
    corpus.upload_path.unlink(missing_ok=True)
    _publish(corpus, send)
    return corpus


# --- everything else -----------------------------------------------------------------------------
def do_rename_corpus(corpus: Corpus, name: str, send: Send | None = events.web_send) -> None:
    corpus.name = name
    corpus.save(update_fields=["name", "updated_at"])
    _publish(corpus, send)


def do_delete_corpus(corpus: Corpus, send: Send | None = events.web_send) -> None:
    """Delete the row; its files go once the deletion commits (the deletion app's
    `post_delete` receiver), and a validation in flight notices and cleans up after."""
    pk, owner_id = corpus.pk, corpus.owner_id
    corpus.delete()
    transaction.on_commit(lambda: events.publish(send, owner_id, pk, events.deleted_event(pk)))


def do_sweep_uploads(send: Send | None = None) -> dict[str, int]:
    """Reject uploads idle for CORPUS_ABANDON_HOURS; queue again lost validations.

    A validation that never started (its queue message was lost, e.g. Redis restarted) is
    queued again; the task's claim makes a duplicate harmless. A validation whose worker died
    is the job sweep's (`Corpus.sweep_stale`).
    """
    now = timezone.now()
    stale_since = now - timedelta(seconds=settings.JOB_HEARTBEAT_STALE_SECONDS)
    counts = {"abandoned": 0, "requeued": 0}
    for corpus in abandon_idle(Corpus):
        counts["abandoned"] += 1
        _publish(corpus, send)  # type: ignore[arg-type]
    lost = Corpus.objects.filter(
        status=CorpusStatus.VALIDATING, heartbeat_at=None, updated_at__lt=stale_since
    )
    for corpus in lost:
        if corpus.touch_queued(stale_since):
            counts["requeued"] += 1
            enqueue(VALIDATE_TASK, corpus.pk)
    return counts


def do_import_corpus(
    user: Any, source: Path, name: str = "", kind: str = CorpusKind.TEXT
) -> Corpus:
    """Import a file from disk as `user`'s corpus, validating it in this process.

    The same checks as a browser upload (size cap, quota, content); raises UploadError.
    """
    form = StartUploadForm({"name": source.name, "size": source.stat().st_size})
    if not form.is_valid():
        raise UploadError(form.first_error())
    data = form.cleaned_data
    corpus, _ = do_start_upload(CORPUS_UPLOADS, user, data["name"], data["size"], kind=kind)
    if name:
        corpus.name = name
        corpus.save(update_fields=["name", "updated_at"])
    chunk = settings.CORPUS_CHUNK_BYTES
    with source.open("rb") as f:
        for offset in range(0, corpus.size_bytes, chunk):
            length = min(chunk, corpus.size_bytes - offset)
            do_receive_chunk(corpus, offset, f, length, send=None, queue=False)
    do_validate_corpus(corpus.pk)
    corpus.refresh_from_db()
    return corpus
