"""The deed: deleting a row as its plan says, and the files that go with it.

`delete(obj)` stops the object first when its part says how: a queued or running job through
its usual cancel action. A queued one is then cancelled and deleted in the same request; a
running one is left `cancelling`, marked `delete_requested` (hidden from its owner from then
on) and deleted by the beat's sweep (`finish_requested_deletions`) once it has stopped. The
deletion itself locks the row, plans again (the page may be old) and deletes it in one
transaction. Its files go after commit: `remove_files_after_commit` is the `post_delete`
receiver of every file owner (connected by webapp/deletion/apps.py), so every way a row goes
(the Delete pages, the admin, a user deleted with everything they own) takes its files along,
and a transaction that rolls back removes nothing. docs/architecture.md, "Deletion".
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from functools import partial
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Model, ProtectedError, RestrictedError
from django.http import Http404
from django.utils import timezone

from webapp.deletion.plans import Effect, Plan, part_of, plan_for
from webapp.web.files import FileOwner, remove_paths


@dataclass
class Outcome:
    deleted: bool  # False: refused (see plan.refusals), or `deferred`
    plan: Plan
    deferred: bool = False  # a job asked to stop: the sweep deletes it once it has
    files_left: list[Path] = field(default_factory=list)


def delete(obj: Model) -> Outcome:
    """Delete `obj` if its plan allows it, made again under a row lock; its files go after
    commit (`files_left` names any that could not be removed). A job still running is
    cancelled and marked `delete_requested` instead (`deferred`)."""
    part, plan = part_of(type(obj)), plan_for(obj)
    if not plan.allowed:
        return Outcome(False, plan)
    part.stop(obj)
    model = type(obj)
    try:
        with transaction.atomic():
            locked = model._default_manager.select_for_update().filter(pk=obj.pk).first()
            if locked is None:
                raise Http404(f"No such {model._meta.verbose_name}.")
            plan = plan_for(locked)
            if not plan.allowed:
                return Outcome(False, plan)
            if part.defer(locked):  # stopping: the sweep deletes it once it has stopped
                return Outcome(False, plan, deferred=True)
            plan.files  # noqa: B018  (measured now: the message reports what was removed)
            part.delete_row(locked)
    except (ProtectedError, RestrictedError) as exc:  # a run started using it meanwhile
        refusal = Effect(f"refused: {exc.args[0]}", refuses=True)
        return Outcome(False, Plan(obj, plan.kind, effects=[refusal]))
    return Outcome(True, plan, files_left=[p for p in plan.paths if p.exists()])


def finish_requested_deletions() -> int:
    """The beat's sweep: delete the jobs whose deletion waited for them to stop; return how
    many went. A job is left a heartbeat period after it finished, so that its worker has
    read its row for the last time."""
    from webapp.jobs.models import ACTIVE, job_models  # models: not before the apps load

    settled = timezone.now() - timedelta(seconds=settings.JOB_HEARTBEAT_STALE_SECONDS)
    deleted = 0
    for model in job_models():
        waiting = model.objects.filter(delete_requested=True, finished_at__lt=settled)
        for job in waiting.exclude(status__in=ACTIVE):
            deleted += delete(job).deleted
    return deleted


def remove_files_after_commit(
    sender: type[Model], instance: FileOwner, using: str, **_: Any
) -> None:
    """`post_delete` of every file owner: its files go once the deletion commits."""
    transaction.on_commit(partial(remove_paths, instance.owned_paths()), using=using)
