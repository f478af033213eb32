"""The job state machine every long-running task shares, and the runs built on it.

`Tracked` rows are moved on by conditional UPDATEs (`filter(pk=..., <expected state>)
.update(...)`, whose row count says whether this call made it happen), kept alive by a
worker's heartbeat (`webapp.jobs.reporting.JobReporter`) and swept when the heartbeat stops
(`sweep_stale_jobs`, every 15 s). Two workers, the sweep and a user's cancel can race
without corrupting a row. The row is the source of truth; pushes to the browser only
accelerate what a reload shows. Two kinds are tracked: `Job` (tokenizer and training runs:
`queued → running → (cancelling →) succeeded | failed | cancelled`) and `ChunkedUpload` (a
file received in chunks and the job that reads it: a corpus's validation, a model's import;
webapp/uploads/chunked.py).
"""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any, ClassVar

from django.conf import settings
from django.db import models
from django.utils import timezone

from webapp.web.files import FileOwner, StorageEntry


def new_storage_key() -> str:
    """A server-made name for a row's files: a client's file name is never part of a path."""
    return uuid.uuid4().hex


class Tracked(models.Model):
    """A row a worker moves on with conditional UPDATEs and keeps alive with heartbeats."""

    class Meta:
        abstract = True

    def _update(self, where: dict[str, Any], **fields: Any) -> bool:
        """UPDATE this row WHERE `where` still holds; True (and fields set here) if it did."""
        updated = type(self).objects.filter(pk=self.pk, **where).update(**fields)
        if updated:
            for name, value in fields.items():
                setattr(self, name, value)
        return bool(updated)

    # Subclasses define `beat(progress) -> bool` (liveness and progress; False once the row left
    # the state a worker owns) and the classmethod `sweep_stale(cutoff) -> int` (end the rows
    # whose worker stopped beating before `cutoff`).
    def cancel_requested(self) -> bool:
        return False


class JobStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    CANCELLING = "cancelling", "Cancelling"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"
    CANCELLED = "cancelled", "Cancelled"


ACTIVE = (JobStatus.QUEUED, JobStatus.RUNNING, JobStatus.CANCELLING)
FINISHED = (JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.CANCELLED)
STALE_ERROR = (
    "The worker stopped reporting (crashed or was killed); resume from the last checkpoint."
)


class Job(Tracked):
    status = models.CharField(
        max_length=16, choices=JobStatus.choices, default=JobStatus.QUEUED, db_index=True
    )
    progress = models.FloatField(default=0.0, help_text="Fraction done, 0 to 1.")
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    # Deleted with its files once it has stopped (webapp/deletion); hidden from its owner.
    delete_requested = models.BooleanField(default=False)

    class Meta:
        abstract = True

    # --- transitions: each returns True when this call made it happen ------------------------
    def _transition(self, from_states: tuple[str, ...], **fields: Any) -> bool:
        return self._update({"status__in": from_states}, **fields)

    def mark_running(self) -> bool:
        now = timezone.now()
        return self._transition(
            (JobStatus.QUEUED,), status=JobStatus.RUNNING, started_at=now, heartbeat_at=now
        )

    def beat(self, progress: float | None = None) -> bool:
        fields: dict[str, Any] = {"heartbeat_at": timezone.now()}
        if progress is not None:
            fields["progress"] = progress
        return self._transition((JobStatus.RUNNING, JobStatus.CANCELLING), **fields)

    def request_cancel(self) -> bool:
        if self._transition(
            (JobStatus.QUEUED,), status=JobStatus.CANCELLED, finished_at=timezone.now()
        ):
            return True
        return self._transition((JobStatus.RUNNING,), status=JobStatus.CANCELLING)

    def finish(self, status: str, error: str = "") -> bool:
        assert status in FINISHED, status
        extra = {"progress": 1.0} if status == JobStatus.SUCCEEDED else {}
        return self._transition(
            ACTIVE, status=status, error=error, finished_at=timezone.now(), **extra
        )

    def cancel_requested(self) -> bool:
        """Read from the row: has somebody asked this running job to stop?"""
        return type(self).objects.filter(pk=self.pk, status=JobStatus.CANCELLING).exists()

    @classmethod
    def sweep_stale(cls, cutoff: Any) -> int:
        """Fail running jobs; the last checkpoint, if any, stays where it is for a resume."""
        return cls.objects.filter(
            status__in=(JobStatus.RUNNING, JobStatus.CANCELLING), heartbeat_at__lt=cutoff
        ).update(status=JobStatus.FAILED, finished_at=timezone.now(), error=STALE_ERROR)

    @property
    def is_active(self) -> bool:
        return self.status in ACTIVE


class RunQuerySet(models.QuerySet):
    def for_user(self, user: Any) -> RunQuerySet:
        """The user's runs, less those being deleted (gone from their pages at once)."""
        if not user.is_authenticated:
            return self.none()
        return self.filter(owner=user, delete_requested=False)


class Run(FileOwner, Job):
    """A job a user owns, with files in MEDIA_ROOT/<media_dir>/user-<owner>/<key>/ and a
    Channels group `<group_prefix>.<id>` its page listens to (webapp/jobs/consumers.py)."""

    media_dir: ClassVar[str]
    group_prefix: ClassVar[str]
    storage_key = models.CharField(
        max_length=32, unique=True, default=new_storage_key, editable=False
    )

    class Meta:
        abstract = True
        ordering = ["-created_at"]

    @classmethod
    def group_for(cls, pk: int) -> str:
        return f"{cls.group_prefix}.{pk}"

    @property
    def group(self) -> str:
        return self.group_for(self.pk)

    @property
    def directory(self) -> Path:
        owner = f"user-{self.owner_id}"  # type: ignore[attr-defined]
        return Path(settings.MEDIA_ROOT) / self.media_dir / owner / self.storage_key

    # --- its files (webapp/web/files.py) ---------------------------------------------------------
    def owned_paths(self) -> list[Path]:
        return [self.directory]

    def files_state(self) -> str | None:
        """A finished run's files no longer change; a resumed one finishes again, anew."""
        if self.status in ACTIVE or self.finished_at is None:
            return None
        return f"{self.status}:{self.finished_at.timestamp()}"

    def storage_entry(self) -> StorageEntry:
        entry = super().storage_entry()
        if self.delete_requested:  # hidden from its owner; its files go once it has stopped
            return replace(entry, url=None, note="being deleted")
        return replace(entry, note="running: growing") if self.is_active else entry

    def status_dict(self) -> dict[str, Any]:
        return {
            "id": self.pk,
            "status": self.status,
            "status_label": self.get_status_display(),  # type: ignore[attr-defined]
            "progress": self.progress,
            "error": self.error,
        }

    def status_event(self) -> dict[str, Any]:
        return {"type": "run.status", **self.status_dict()}


def tracked_models() -> list[type[Tracked]]:
    """Every concrete tracked model (jobs and uploads), across installed apps."""
    from django.apps import apps

    return [m for m in apps.get_models() if issubclass(m, Tracked)]


def job_models() -> list[type[Job]]:
    """Every concrete kind of job a user owns (tokenizer, training and fine-tuning runs,
    evaluations), including kinds added later: what the job limit counts and what a deletion
    stops first."""
    from django.apps import apps

    return [m for m in apps.get_models() if issubclass(m, Job) and hasattr(m, "owner")]


def sweep_stale_jobs(stale_after: timedelta, models: list[type[Tracked]] | None = None) -> int:
    """End every tracked row whose heartbeat is older than `stale_after`; return the count.

    A worker that crashed (OOM kill, power loss) stops beating; its row would otherwise say
    `running` (or `validating`) forever.
    """
    cutoff = timezone.now() - stale_after
    return sum(m.sweep_stale(cutoff) for m in (tracked_models() if models is None else models))
