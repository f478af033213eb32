"""`Corpus`: one user's text file, from its first uploaded chunk to validated, measured text.

Status: `uploading → validating → ready | rejected`. It arrives in chunks like every upload
(webapp/uploads/chunked.py) and is then tracked like a job (webapp/jobs/models.py): every transition
and every chunk's byte count is a conditional UPDATE whose row count says whether this call
made it happen, so two chunks, a worker and the sweep can race safely; the validation beats
through `JobReporter`, and the job sweep rejects a validation whose worker died.

Files live under MEDIA_ROOT/corpora/user-<owner id>/, named by a server-generated key (the
client's file name is only ever a label): `<key>.part` while uploading and validating,
`<key>.txt` once ready (always valid UTF-8, without a byte order mark).
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone

from webapp.corpora import events
from webapp.uploads.chunked import ChunkedUpload, UploadQuerySet
from webapp.web.files import StorageEntry, missing_file_message


class CorpusStatus(models.TextChoices):
    UPLOADING = "uploading", "Uploading"
    VALIDATING = "validating", "Validating"
    READY = "ready", "Ready"
    REJECTED = "rejected", "Rejected"


class CorpusKind(models.TextChoices):
    TEXT = "text", "Text"
    # One conversation per line, {"messages": [...]}: for chat fine-tuning (lmcore/conversations.py).
    CONVERSATIONS = "conversations", "Conversations"


HOLDING_FILES = (CorpusStatus.UPLOADING, CorpusStatus.VALIDATING, CorpusStatus.READY)
STALE_ERROR = "Validation stopped: the worker crashed or was restarted. Upload the file again."


class CorpusQuerySet(UploadQuerySet):
    def ready(self) -> CorpusQuerySet:
        """Validated files, text and conversations alike."""
        return self.filter(status=CorpusStatus.READY)

    def text(self) -> CorpusQuerySet:
        """Text corpora: what tokenizers and training runs learn from."""
        return self.filter(kind=CorpusKind.TEXT)

    def conversations(self) -> CorpusQuerySet:
        """Conversation datasets: what chat fine-tuning runs learn from."""
        return self.filter(kind=CorpusKind.CONVERSATIONS)


class Corpus(ChunkedUpload):
    RECEIVED = CorpusStatus.VALIDATING  # the last chunk queues its validation

    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="corpora"
    )
    name = models.CharField(max_length=200)
    filename = models.CharField(max_length=255, blank=True, help_text="As uploaded; a label.")
    kind = models.CharField(max_length=16, choices=CorpusKind.choices, default=CorpusKind.TEXT)
    status = models.CharField(
        max_length=16, choices=CorpusStatus.choices, default=CorpusStatus.UPLOADING, db_index=True
    )
    notice = models.TextField(blank=True, help_text="What validation changed, e.g. transcoding.")
    size_bytes = models.BigIntegerField(
        help_text="While uploading: the file's declared size. Once ready: the stored UTF-8 text."
    )
    sha256 = models.CharField(max_length=64, blank=True, help_text="Of the stored UTF-8 text.")
    stats = models.JSONField(default=dict, blank=True)
    progress = models.FloatField(default=0.0, help_text="Validation: fraction done, 0 to 1.")
    duplicate_of = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    fingerprint = models.CharField(
        max_length=300, blank=True, help_text="The browser's name:size:lastModified, to resume."
    )

    objects = CorpusQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name_plural = "corpora"
        constraints = [
            # The same text twice for one user is one corpus; the loser of a race is rejected.
            models.UniqueConstraint(
                fields=["owner", "sha256"],
                condition=Q(status="ready"),
                name="corpora_one_ready_copy_per_text",
            )
        ]

    def __str__(self) -> str:
        return self.name

    def get_absolute_url(self) -> str:
        return reverse("corpora:detail", args=[self.pk])

    @property
    def is_conversations(self) -> bool:
        return self.kind == CorpusKind.CONVERSATIONS

    @property
    def noun(self) -> str:
        return "conversation dataset" if self.is_conversations else "corpus"

    # --- files ------------------------------------------------------------------------------
    @property
    def directory(self) -> Path:
        return Path(settings.MEDIA_ROOT) / "corpora" / f"user-{self.owner_id}"

    @property
    def path(self) -> Path:
        """The validated UTF-8 text (exists once the corpus is READY)."""
        return self.directory / f"{self.storage_key}.txt"

    @property
    def upload_path(self) -> Path:
        """The bytes received so far, exactly as sent (while uploading and validating)."""
        return self.directory / f"{self.storage_key}.part"

    @property
    def rewrite_path(self) -> Path:
        """Where validation writes text it had to change (a BOM stripped, UTF-16 transcoded)."""
        return self.directory / f"{self.storage_key}.tmp"

    @property
    def missing_file(self) -> str:
        """What to say when a ready corpus's text is not on disk; "" when it is there."""
        if self.status != CorpusStatus.READY or self.path.exists():
            return ""
        return missing_file_message(f"The text of “{self.name}”", self.path,
                                    "delete this entry and upload the file again")  # fmt: skip

    # --- its files (webapp/web/files.py): counted by its row, at their full size from the start ---
    def owned_paths(self) -> list[Path]:
        return [self.upload_path, self.rewrite_path, self.path]

    @classmethod
    def stored_by(cls, user: Any) -> CorpusQuerySet:
        return cls.objects.filter(owner_id=user.pk, status__in=HOLDING_FILES)

    def storage_entry(self) -> StorageEntry:
        entry = super().storage_entry()
        if self.status == CorpusStatus.READY:
            return entry
        return replace(entry, note=f"{self.get_status_display()}: reserved at its full size")

    # --- transitions after the upload's (webapp/uploads/chunked.py): True when this call made it happen
    def start_validation(self) -> bool:
        """Claim the validation (one worker only, even if the task was delivered twice)."""
        where = {"status": CorpusStatus.VALIDATING, "heartbeat_at": None}
        return self._transition(where, heartbeat_at=timezone.now())

    def beat(self, progress: float | None = None) -> bool:
        fields = {"heartbeat_at": timezone.now()}
        if progress is not None:
            fields["progress"] = progress
        return self._transition({"status": CorpusStatus.VALIDATING}, **fields)

    def mark_ready(self, sha256: str, stats: dict, notice: str) -> bool:
        where = {"status": CorpusStatus.VALIDATING}
        return self._transition(
            where,
            status=CorpusStatus.READY,
            sha256=sha256,
            stats=stats,
            notice=notice,
            size_bytes=stats["bytes"],
            progress=1.0,
        )

    def touch_queued(self, queued_before: Any) -> bool:
        """Note that a validation waiting since before `queued_before` was queued again."""
        where = {
            "status": CorpusStatus.VALIDATING,
            "heartbeat_at": None,
            "updated_at__lt": queued_before,
        }
        return self._transition(where)

    @classmethod
    def sweep_stale(cls, cutoff: Any) -> int:
        """Reject validations whose worker stopped beating, deleting their bytes."""
        swept = 0
        for corpus in cls.objects.filter(status=CorpusStatus.VALIDATING, heartbeat_at__lt=cutoff):
            where = {"status": CorpusStatus.VALIDATING, "heartbeat_at__lt": cutoff}
            if corpus._transition(where, status=CorpusStatus.REJECTED, error=STALE_ERROR):
                swept += 1
                corpus.remove_files()  # its worker is gone; nothing reads them
                event = events.status_event(corpus)
                events.publish(events.web_send, corpus.owner_id, corpus.pk, event)
        return swept

    # --- reading ----------------------------------------------------------------------------
    @property
    def is_active(self) -> bool:
        return self.status in (CorpusStatus.UPLOADING, CorpusStatus.VALIDATING)

    @property
    def upload_fraction(self) -> float:
        return self.received_bytes / self.size_bytes if self.size_bytes else 0.0

    def status_dict(self) -> dict[str, Any]:
        """What a page needs to show this corpus's state (the websocket's `corpus.status`)."""
        return {
            "id": self.pk,
            "name": self.name,
            "kind": self.kind,
            "status": self.status,
            "status_label": self.get_status_display(),
            "error": self.error,
            "notice": self.notice,
            "size_bytes": self.size_bytes,
            "received_bytes": self.received_bytes,
            "progress": self.progress,
            "url": self.get_absolute_url(),
        }

    def to_dict(self) -> dict[str, Any]:
        return {
            **self.status_dict(),
            "filename": self.filename,
            "sha256": self.sha256,
            "stats": self.stats,
            "duplicate_of": self.duplicate_of_id,
            "created_at": self.created_at.isoformat(),
            "updated_at": self.updated_at.isoformat(),
        }
