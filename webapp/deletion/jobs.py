"""What every job brings to a deletion plan: `JobPart`, the own part each kind of job builds on
in its app's deletion.py, and the lines a job says of what it reads.

A queued job is cancelled first, through its kind's usual cancel action, and deleted at once.
A running one is cancelled now and marked `delete_requested` (hidden from its owner from then
on); the beat's sweep deletes it with its files once it has stopped, so its files are never
removed while a worker may still write them. A job that reads something refuses that
thing's deletion while it is queued or running (`active_refusal`): cancelling it is the
user's choice, never a side effect. docs/architecture.md, "Deletion".
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TypeVar

from webapp.deletion.plans import Effect, Part
from webapp.jobs.models import ACTIVE, Job, JobStatus

J = TypeVar("J", bound=Job)


class JobPart(Part[J]):
    """A job's own part; its app gives `cancel`, and `stopping` when it does something as it
    stops."""

    stopping = ""  # e.g. ", after saving a checkpoint that becomes a version"

    def cancel(self, job: J) -> object:
        raise NotImplementedError

    def effects(self, job: J) -> Iterator[Effect]:
        kind = self.kind(job)
        if job.status == JobStatus.QUEUED:
            yield Effect(f"this {kind} is queued: it is cancelled first")
        elif job.status in (JobStatus.RUNNING, JobStatus.CANCELLING):
            yield Effect(
                f"this {kind} is {job.get_status_display().lower()}: it is cancelled now and "
                f"disappears from your pages; it is deleted with its files once it has stopped"
                f"{self.stopping}"
            )

    def stop(self, job: J) -> None:
        if job.status in (JobStatus.QUEUED, JobStatus.RUNNING):  # queued: cancelled at once
            self.cancel(job)

    def defer(self, job: J) -> bool:
        if job.status not in ACTIVE:
            return False
        type(job).objects.filter(pk=job.pk).update(delete_requested=True)
        return True


def job_line(job: Job, kind: str) -> str:
    return f"{kind} “{job.name}” #{job.pk}"


def active_refusal(job: Job, kind: str, why: str) -> Effect:
    """A queued or running `job` that needs the object: "refused: <why> <job>, ..."."""
    if job.delete_requested or job.status == JobStatus.CANCELLING:
        return Effect(f"refused: {why} {job_line(job, kind)}, which is stopping: try again "
                      "once it has stopped", refuses=True)  # fmt: skip
    state = job.get_status_display().lower()
    return Effect(f"refused: {why} {job_line(job, kind)}, which is {state}: cancel it first",
                  job.get_absolute_url(), refuses=True)  # fmt: skip
