"""Deleting a user's object with its files: the plan, the deed, and the files after commit.

`plan_for(obj)` says, before anything happens, what depends on the object and what becomes of
each dependant (read from the ForeignKeys' `on_delete`), which files go, and what refuses the
deletion: a job still running (its worker has the files open), or a dependant that cannot
lose it (a tokenizer RESTRICTed by the training runs that use it; any object a queued or
running job reads). `delete(obj)` cancels the object first when it is a *queued* job (that is
instant: no worker holds it), then, in one transaction, locks the row, plans again (the world
may have moved since the confirmation page) and deletes it. Files are removed by a
`post_delete` receiver through `transaction.on_commit`, so every way a row goes (these pages,
the admin, a user deleted with everything they own) takes its files along, and a transaction
that rolls back removes nothing. docs/architecture.md, "Deletion".
"""

from __future__ import annotations

import logging
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property, partial
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Model, ProtectedError, RestrictedError
from django.db.models.signals import post_delete
from django.http import Http404
from django.urls import reverse

from webapp.jobs.models import JobStatus

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Effect:
    """One line of the confirmation page: a dependant and what happens to it."""

    text: str
    url: str = ""
    refuses: bool = False  # the deletion cannot happen while this holds


@dataclass
class Plan:
    obj: Model
    kind: str  # "training run": what the pages call it
    effects: list[Effect] = field(default_factory=list)
    paths: list[Path] = field(default_factory=list)
    cancel_url: str = ""  # the object is a running job: cancel here first

    @property
    def name(self) -> str:
        return str(self.obj)

    @property
    def refusals(self) -> list[Effect]:
        return [e for e in self.effects if e.refuses]

    @property
    def allowed(self) -> bool:
        return not self.refusals

    @cached_property
    def files(self) -> list[tuple[str, int]]:
        """(path under MEDIA_ROOT, bytes) of each file or directory that exists now."""
        return [(_shown(p), _size(p)) for p in self.paths if p.exists()]

    @property
    def bytes(self) -> int:
        return sum(size for _, size in self.files)


def _shown(path: Path) -> str:
    try:
        return str(path.relative_to(settings.MEDIA_ROOT))
    except ValueError:
        return str(path)


def _size(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


# --- what each object owns on disk ----------------------------------------------------------
def files_of(obj: Model) -> list[Path]:
    """The files and directories that belong to `obj` alone (never a shared folder)."""
    label = obj._meta.label
    if label in ("corpora.Corpus",):
        return [obj.upload_path, obj.rewrite_path, obj.path]  # type: ignore[attr-defined]
    if label == "registry.ModelUpload":
        return [obj.upload_path, obj.unpack_dir]  # type: ignore[attr-defined]
    if label in ("tokenization.TokenizerRun", "training.TrainingRun", "registry.ModelVersion"):
        return [obj.directory]  # type: ignore[attr-defined]
    return []


FILE_OWNERS = (
    "corpora.Corpus",
    "tokenization.TokenizerRun",
    "training.TrainingRun",
    "registry.ModelVersion",
    "registry.ModelUpload",
)


def remove_paths(paths: list[Path]) -> list[Path]:
    """Remove each file or directory; return those still there (each failure is logged)."""
    left = []
    for path in paths:
        try:
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path)
            else:
                path.unlink(missing_ok=True)
        except OSError:
            logger.exception("could not remove %s", path)
            left.append(path)
    return left


def _remove_after_commit(sender: type[Model], instance: Model, using: str, **_: Any) -> None:
    transaction.on_commit(partial(remove_paths, files_of(instance)), using=using)


def connect_signals() -> None:
    """Called once from webapp.jobs' AppConfig.ready(): the file owners' `post_delete`."""
    from django.apps import apps

    for label in FILE_OWNERS:
        post_delete.connect(
            _remove_after_commit, sender=apps.get_model(label), dispatch_uid=f"files:{label}"
        )


# --- plans ------------------------------------------------------------------------------------
def _job_line(job: Any, kind: str) -> str:
    return f"{kind} “{job.name}” #{job.pk}"


def _active_refusal(job: Any, kind: str, why: str) -> Effect:
    state = job.get_status_display().lower()
    return Effect(f"refused: {why} {_job_line(job, kind)}, which is {state}: cancel it first",
                  job.get_absolute_url(), refuses=True)  # fmt: skip


def _own_state(plan: Plan, job: Any, cancel_url: str) -> None:
    """A queued job is cancelled first; a running one must stop before it can go."""
    if job.status == JobStatus.QUEUED:
        plan.effects.append(Effect(f"this {plan.kind} is queued: it is cancelled first"))
    elif job.status in (JobStatus.RUNNING, JobStatus.CANCELLING):
        plan.cancel_url = cancel_url if job.status == JobStatus.RUNNING else ""
        what = "running: cancel it" if job.status == JobStatus.RUNNING else "stopping: wait"
        plan.effects.append(Effect(
            f"refused: this {plan.kind} is {what}, then delete it once it has stopped "
            "(a worker writes its files until then)", refuses=True))  # fmt: skip


def _corpus_plan(corpus: Any) -> Plan:
    kind = "conversation dataset" if corpus.is_conversations else "corpus"
    plan = Plan(corpus, kind, paths=files_of(corpus))
    if corpus.is_active:
        plan.effects.append(Effect(f"its {corpus.get_status_display().lower()} stops"))
    for run in corpus.tokenizer_runs.all():
        if run.is_active:
            plan.effects.append(_active_refusal(run, "tokenizer run", "it is read by"))
        else:
            plan.effects.append(Effect(f"{_job_line(run, 'tokenizer')} keeps its tokenizer",
                                       run.get_absolute_url()))  # fmt: skip
    for run in corpus.training_runs.all():
        if run.is_active:
            plan.effects.append(_active_refusal(run, "training run", "it is read by"))
        else:
            more = " and can still resume" if run.can_resume else ""
            plan.effects.append(Effect(
                f"{_job_line(run, 'training run')} keeps its encoded data{more}",
                run.get_absolute_url()))  # fmt: skip
    for run in corpus.finetune_runs.all():
        if run.is_active:
            plan.effects.append(_active_refusal(run, "fine-tuning run", "it is read by"))
        elif run.can_resume:
            plan.effects.append(Effect(
                f"{_job_line(run, 'fine-tuning run')} can no longer be resumed "
                "(a resume needs its conversation files)", run.get_absolute_url()))  # fmt: skip
        else:
            plan.effects.append(Effect(
                f"{_job_line(run, 'fine-tuning run')} keeps its history and checkpoint",
                run.get_absolute_url()))  # fmt: skip
    return plan


def _tokenizer_plan(run: Any) -> Plan:
    plan = Plan(run, "tokenizer", paths=files_of(run))
    _own_state(plan, run, reverse("tokenization:cancel", args=[run.pk]))
    for training in run.training_runs.all():  # on_delete=RESTRICT
        then = "cancel it, then delete it" if training.is_active else "delete that run"
        plan.effects.append(Effect(
            f"refused: {_job_line(training, 'training run')} uses this tokenizer: {then} first "
            "(its model versions stay)", training.get_absolute_url(), refuses=True))  # fmt: skip
    for version in run.versions.all():  # SET_NULL
        plan.effects.append(Effect(
            f"version “{version}” keeps its own copy of the tokenizer, but can no longer be "
            "fine-tuned for chat", version.get_absolute_url()))  # fmt: skip
    return plan


def _training_plan(run: Any) -> Plan:
    plan = Plan(run, "training run", paths=files_of(run))
    _own_state(plan, run, reverse("training:cancel", args=[run.pk]))
    events = run.events.count()  # CASCADE
    if events:
        plan.effects.append(Effect(f"its {events:,} logged events (the charts) are deleted"))
    for version in run.versions.all():  # SET_NULL
        plan.effects.append(Effect(
            f"version “{version}” stays: it has its own copy of the weights and tokenizer",
            version.get_absolute_url()))  # fmt: skip
    plan.effects.append(Effect("its corpora and its tokenizer are not touched"))
    return plan


def _version_plan(version: Any) -> Plan:
    plan = Plan(version, "model version", paths=files_of(version))
    if version.status == "production":
        plan.effects.append(Effect(
            f"it is the production version of “{version.name}”: the playground and the API's "
            f"“{version.name}” then mean its latest remaining version"))  # fmt: skip
    for run in version.finetune_runs.all():  # SET_NULL
        if run.is_active:
            plan.effects.append(_active_refusal(run, "fine-tuning run", "it starts from it in"))
        elif run.can_resume:
            plan.effects.append(Effect(
                f"{_job_line(run, 'fine-tuning run')} can no longer be resumed "
                "(a resume reads this version's tokenizer)", run.get_absolute_url()))  # fmt: skip
        else:
            plan.effects.append(Effect(
                f"{_job_line(run, 'fine-tuning run')} keeps its history and checkpoint",
                run.get_absolute_url()))  # fmt: skip
    for child in version.children.all():  # SET_NULL
        plan.effects.append(Effect(
            f"chat version “{child}”, fine-tuned from it, keeps its own weights",
            child.get_absolute_url()))  # fmt: skip
    mine = version.conversations.filter(owner_id=version.owner_id)
    for conversation in mine:  # SET_NULL
        plan.effects.append(
            Effect(f"conversation “{conversation.title}” keeps its messages and names no model")
        )
    others = version.conversations.exclude(owner_id=version.owner_id).count()
    if others:
        plan.effects.append(
            Effect(f"{others} conversation(s) of other users keep their messages and name no model")
        )
    return plan


def _conversation_plan(conversation: Any) -> Plan:
    plan = Plan(conversation, "conversation")
    plan.effects.append(Effect(f"its {len(conversation.messages)} messages are deleted"))
    return plan


def _api_key_plan(key: Any) -> Plan:
    plan = Plan(key, "API key")
    if not key.revoked:
        plan.effects.append(Effect("programs using this key get 401 from now on"))
    return plan


PLANNERS: dict[str, Callable[[Any], Plan]] = {
    "corpora.Corpus": _corpus_plan,
    "tokenization.TokenizerRun": _tokenizer_plan,
    "training.TrainingRun": _training_plan,
    "registry.ModelVersion": _version_plan,
    "playground.Conversation": _conversation_plan,
    "api.ApiKey": _api_key_plan,
}


def plan_for(obj: Model) -> Plan:
    return PLANNERS[obj._meta.label](obj)


def owned(user: Any, model: type[Model], pk: int) -> Model:
    """`user`'s own row `pk`, else 404: one deletes only what one owns, staff included (staff
    see others' versions, and delete others' objects from the admin)."""
    if not getattr(user, "is_authenticated", False):
        raise Http404(f"No such {model._meta.verbose_name}.")
    try:
        return model.objects.get(pk=pk, owner=user)  # type: ignore[attr-defined]
    except model.DoesNotExist:  # type: ignore[attr-defined]
        raise Http404(f"No such {model._meta.verbose_name}.") from None


# --- the deed ---------------------------------------------------------------------------------
@dataclass
class Outcome:
    deleted: bool
    plan: Plan
    files_left: list[Path] = field(default_factory=list)


def _cancel_if_queued(obj: Any) -> None:
    """A queued job ends at once (no worker holds it yet), through the usual cancel path."""
    if getattr(obj, "status", None) != JobStatus.QUEUED:
        return
    if obj._meta.label == "training.TrainingRun":
        from webapp.training.actions import do_cancel_training_run

        do_cancel_training_run(obj)
    elif obj._meta.label == "tokenization.TokenizerRun":
        from webapp.tokenization.actions import do_cancel_tokenizer_run

        do_cancel_tokenizer_run(obj)


def _delete_row(obj: Any) -> None:
    if obj._meta.label == "corpora.Corpus":
        from webapp.corpora.actions import do_delete_corpus

        do_delete_corpus(obj)  # also tells the corpus pages' sockets, after commit
    else:
        obj.delete()


def delete(obj: Model) -> Outcome:
    """Delete `obj` if its plan, made again under a row lock, allows it; its files go after
    commit (`files_left` names any that could not be removed)."""
    _cancel_if_queued(obj)
    model = type(obj)
    try:
        with transaction.atomic():
            locked = model.objects.select_for_update().filter(pk=obj.pk).first()
            if locked is None:
                raise Http404(f"No such {model._meta.verbose_name}.")
            plan = plan_for(locked)
            if not plan.allowed:
                return Outcome(False, plan)
            plan.files  # noqa: B018  (measured now: the message reports what was removed)
            _delete_row(locked)
    except (ProtectedError, RestrictedError) as exc:  # a run started using it meanwhile
        refusal = Effect(f"refused: {exc.args[0]}", refuses=True)
        return Outcome(False, Plan(obj, plan_for(obj).kind, effects=[refusal]))
    return Outcome(True, plan, files_left=[p for p in plan.paths if p.exists()])


class KeepActiveJobsAdmin:
    """ModelAdmin mixin for jobs: a queued or running one has no Delete in the admin (cancel it
    first, as on its page); the files of what is deleted go by the `post_delete` receiver."""

    def has_delete_permission(self, request: Any, obj: Any = None) -> bool:
        if obj is not None and obj.is_active:
            return False
        return super().has_delete_permission(request, obj)  # type: ignore[misc]

    def delete_queryset(self, request: Any, queryset: Any) -> None:
        from webapp.jobs.models import ACTIVE

        kept = queryset.filter(status__in=ACTIVE).count()
        super().delete_queryset(request, queryset.exclude(status__in=ACTIVE))  # type: ignore[misc]
        if kept:
            self.message_user(request, f"{kept} queued or running job(s) kept: cancel them first.",  # type: ignore[attr-defined]
                              level="warning")  # fmt: skip
