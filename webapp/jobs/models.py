"""`Job`: the abstract base of every long-running row (tokenizer runs, training runs, ...).

State: `queued → running → (cancelling →) succeeded | failed | cancelled`. Every transition is
a conditional UPDATE (`filter(pk=..., status__in=...).update(...)`) whose row count says whether
it happened, so two workers, a crash sweep and a user's cancel can race without corrupting a
row. The row is the source of truth; pushes to the browser only accelerate what a reload shows.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.db import models
from django.utils import timezone


class JobStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    CANCELLING = "cancelling", "Cancelling"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"
    CANCELLED = "cancelled", "Cancelled"


ACTIVE = (JobStatus.QUEUED, JobStatus.RUNNING, JobStatus.CANCELLING)
FINISHED = (JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.CANCELLED)


class Job(models.Model):
    status = models.CharField(
        max_length=16, choices=JobStatus.choices, default=JobStatus.QUEUED, db_index=True
    )
    progress = models.FloatField(default=0.0, help_text="Fraction done, 0 to 1.")
    last_metrics = models.JSONField(default=dict, blank=True)
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        abstract = True

    # --- transitions: each returns True when this call made it happen ------------------------
    def _transition(self, from_states: tuple[str, ...], **fields: Any) -> bool:
        updated = type(self).objects.filter(pk=self.pk, status__in=from_states).update(**fields)
        if updated:
            for name, value in fields.items():
                setattr(self, name, value)
        return bool(updated)

    def mark_running(self) -> bool:
        now = timezone.now()
        return self._transition(
            (JobStatus.QUEUED,), status=JobStatus.RUNNING, started_at=now, heartbeat_at=now
        )

    def beat(self, progress: float | None = None, metrics: dict | None = None) -> bool:
        """Record liveness (and optionally progress); False if the job left `running`."""
        fields: dict[str, Any] = {"heartbeat_at": timezone.now()}
        if progress is not None:
            fields["progress"] = progress
        if metrics is not None:
            fields["last_metrics"] = metrics
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

    @property
    def is_active(self) -> bool:
        return self.status in ACTIVE


def all_job_models() -> list[type[Job]]:
    """Every concrete model built on Job, across installed apps."""
    from django.apps import apps

    return [m for m in apps.get_models() if issubclass(m, Job)]


def sweep_stale_jobs(stale_after: timedelta, models: list[type[Job]] | None = None) -> int:
    """Mark running jobs whose heartbeat is older than `stale_after` as failed; return count.

    A worker that crashed (OOM kill, power loss) stops beating; its row would otherwise say
    `running` forever. The job's last checkpoint, if any, stays where it is, so it can resume.
    """
    cutoff = timezone.now() - stale_after
    swept = 0
    for model in models if models is not None else all_job_models():
        swept += model.objects.filter(
            status__in=(JobStatus.RUNNING, JobStatus.CANCELLING), heartbeat_at__lt=cutoff
        ).update(
            status=JobStatus.FAILED,
            finished_at=timezone.now(),
            error="The worker stopped reporting (crashed or was killed); resume from the last checkpoint.",
        )
    return swept
