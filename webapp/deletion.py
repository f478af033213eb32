"""Deleting a user's object with its files: the plan, and the deed.

`plan_for(obj)` says, before anything happens, what depends on the object and what becomes of
each dependant (read from the ForeignKeys' `on_delete`), which files go, and what refuses the
deletion: a dependant that cannot lose it (a tokenizer RESTRICTed by the training runs that
use it; anything a queued or running job reads). `delete(obj)` stops the object first when it
is a queued or running job, through its usual cancel action: a queued one is cancelled at
once and deleted in the same request; a running one is left `cancelling`, marked
`delete_requested` (hidden from its owner from then on) and deleted by the beat's sweep
(`finish_requested_deletions`) once it has stopped. The deletion itself locks the row, plans
again (the page may be old) and deletes it in one transaction; the files go after commit
(webapp/deletion_files.py). docs/architecture.md, "Deletion".
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from functools import cached_property
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Model, ProtectedError, RestrictedError
from django.http import Http404
from django.utils import timezone

from webapp.deletion_files import files_of
from webapp.jobs.models import ACTIVE, JobStatus


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


# --- plans ------------------------------------------------------------------------------------
def _job_line(job: Any, kind: str) -> str:
    return f"{kind} “{job.name}” #{job.pk}"


def _finetune_effects(plan: Plan, runs: Any, active_reason: str, resume_needs: str) -> None:
    """What deleting something a fine-tuning run reads does to each run: refused while the run
    is active; a resumable run can no longer resume; a finished one keeps its history."""
    for run in runs:
        if run.is_active:
            plan.effects.append(_active_refusal(run, "fine-tuning run", active_reason))
        elif run.can_resume:
            plan.effects.append(Effect(
                f"{_job_line(run, 'fine-tuning run')} can no longer be resumed ({resume_needs})",
                run.get_absolute_url()))  # fmt: skip
        else:
            plan.effects.append(Effect(
                f"{_job_line(run, 'fine-tuning run')} keeps its history and checkpoint",
                run.get_absolute_url()))  # fmt: skip


def _active_refusal(job: Any, kind: str, why: str) -> Effect:
    if job.delete_requested or job.status == JobStatus.CANCELLING:
        return Effect(f"refused: {why} {_job_line(job, kind)}, which is stopping: try again "
                      "once it has stopped", refuses=True)  # fmt: skip
    state = job.get_status_display().lower()
    return Effect(f"refused: {why} {_job_line(job, kind)}, which is {state}: cancel it first",
                  job.get_absolute_url(), refuses=True)  # fmt: skip


def _own_state(plan: Plan, job: Any) -> None:
    """A queued job is cancelled and deleted at once; a running one once it has stopped."""
    if job.status == JobStatus.QUEUED:
        plan.effects.append(Effect(f"this {plan.kind} is queued: it is cancelled first"))
    elif job.status in (JobStatus.RUNNING, JobStatus.CANCELLING):
        saves = ", after saving a checkpoint that becomes a version" if plan.kind == (
            "training run") else ""  # fmt: skip
        plan.effects.append(Effect(
            f"this {plan.kind} is {job.get_status_display().lower()}: it is cancelled now and "
            f"disappears from your pages; it is deleted with its files once it has stopped"
            f"{saves}"))  # fmt: skip


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
    _finetune_effects(plan, corpus.finetune_runs.all(), "it is read by",
                      "a resume needs its conversation files")  # fmt: skip
    _evaluation_effects(plan, corpus.evaluations.all(), "keeps its results")
    return plan


def _evaluation_effects(plan: Plan, runs: Any, finished: str) -> None:
    """Refused while an evaluation that reads it is active; finished ones keep results."""
    for run in runs:
        if run.is_active:
            plan.effects.append(_active_refusal(run, "evaluation", "it is read by"))
        else:
            plan.effects.append(Effect(f"{_job_line(run, 'evaluation')} {finished}",
                                       run.get_absolute_url()))  # fmt: skip


def _tokenizer_plan(run: Any) -> Plan:
    plan = Plan(run, "tokenizer", paths=files_of(run))
    _own_state(plan, run)
    for training in run.training_runs.all():  # on_delete=RESTRICT
        then = "cancel it, then delete it" if training.is_active else "delete that run"
        plan.effects.append(Effect(
            f"refused: {_job_line(training, 'training run')} uses this tokenizer: {then} first "
            "(its model versions stay)", training.get_absolute_url(), refuses=True))  # fmt: skip
    for version in run.versions.all():  # SET_NULL
        plan.effects.append(Effect(
            f"version “{version}” keeps its own copy of the tokenizer: it still plays and can "
            "still be fine-tuned", version.get_absolute_url()))  # fmt: skip
    return plan


def _training_plan(run: Any) -> Plan:
    plan = Plan(run, "training run", paths=files_of(run))
    _own_state(plan, run)
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
    _finetune_effects(
        plan,
        version.finetune_runs.all(),
        "it starts from it in",
        "a resume reads this version's tokenizer",
    )  # runs from it: SET_NULL
    for adapter in version.adapters.all():  # RESTRICT: an adapter needs its base's weights
        plan.effects.append(Effect(
            f"refused: LoRA version “{adapter}” stores only an adapter on this version's "
            "weights: merge it into a plain version (Merge, on its page) or delete it first",
            adapter.get_absolute_url(), refuses=True))  # fmt: skip
    for child in version.children.filter(base__isnull=True):  # SET_NULL
        kind = "chat version" if child.is_chat else "version"
        made = "merged" if child.metrics.get("merged_from") else "fine-tuned"
        plan.effects.append(Effect(f"{kind} “{child}”, {made} from it, keeps its own weights",
                                   child.get_absolute_url()))  # fmt: skip
    _evaluation_effects(plan, version.evaluations.all(), "loses this version's results")
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
    _arena_effects(plan, version)
    return plan


def _arena_effects(plan: Plan, version: Any) -> None:
    """Arena battles it answered in: CASCADE, votes included (a rating of a version that is
    gone means nothing); other users' are counted, not named."""
    battles = [version.battles_left.all(), version.battles_right.all()]
    count = sum(b.count() for b in battles)
    if count:
        votes = sum(b.filter(vote__isnull=False).count() for b in battles)
        plan.effects.append(Effect(
            f"{count} arena battle(s) it answered in are deleted, with their {votes} vote(s): "
            "it leaves the arena's leaderboards"))  # fmt: skip


def _conversation_plan(conversation: Any) -> Plan:
    plan = Plan(conversation, "conversation")
    plan.effects.append(Effect(f"its {len(conversation.messages)} messages are deleted"))
    return plan


def _api_key_plan(key: Any) -> Plan:
    plan = Plan(key, "API key")
    if not key.revoked:
        plan.effects.append(Effect("programs using this key get 401 from now on"))
    return plan


def _model_upload_plan(upload: Any) -> Plan:
    plan = Plan(upload, "model upload", paths=files_of(upload))
    if upload.status == "importing":
        plan.effects.append(Effect("refused: it is being imported; wait for the import to end",
                                   refuses=True))  # fmt: skip
    return plan


def _evaluation_plan(run: Any) -> Plan:
    plan = Plan(run, "evaluation", paths=files_of(run))
    _own_state(plan, run)
    results = run.results.count()  # CASCADE
    if results:
        plan.effects.append(Effect(f"its {results:,} results leave the leaderboard"))
    plan.effects.append(Effect("its versions, corpora and task files are not touched"))
    return plan


def _eval_task_plan(task: Any) -> Plan:
    plan = Plan(task, "evaluation task", paths=files_of(task))
    _evaluation_effects(plan, task.evaluations.all(), "keeps its results on this task")
    return plan


PLANNERS: dict[str, Callable[[Any], Plan]] = {
    "corpora.Corpus": _corpus_plan,
    "registry.ModelUpload": _model_upload_plan,
    "tokenization.TokenizerRun": _tokenizer_plan,
    "training.TrainingRun": _training_plan,
    "registry.ModelVersion": _version_plan,
    "playground.Conversation": _conversation_plan,
    "api.ApiKey": _api_key_plan,
    "evaluation.EvaluationRun": _evaluation_plan,
    "evaluation.EvalTask": _eval_task_plan,
}


def plan_for(obj: Model) -> Plan:
    return PLANNERS[obj._meta.label](obj)


def owned(user: Any, model: type[Model], pk: int) -> Model:
    """`user`'s own row `pk`, else 404: one deletes only what one owns, staff included (staff
    see others' versions, and delete others' objects from the admin). A job already being
    deleted is gone too."""
    if not getattr(user, "is_authenticated", False):
        raise Http404(f"No such {model._meta.verbose_name}.")
    rows = model.objects.filter(owner=user)  # type: ignore[attr-defined]
    if model._meta.label in JOBS:
        rows = rows.filter(delete_requested=False)
    try:
        return rows.get(pk=pk)
    except model.DoesNotExist:  # type: ignore[attr-defined]
        raise Http404(f"No such {model._meta.verbose_name}.") from None


# --- the deed ---------------------------------------------------------------------------------
@dataclass
class Outcome:
    deleted: bool  # False: refused (see plan.refusals), or `deferred`
    plan: Plan
    deferred: bool = False  # a job asked to stop: the sweep deletes it once it has
    files_left: list[Path] = field(default_factory=list)


def _stop(job: Any) -> None:
    """Cancel a queued or running job through its usual action (queued: cancelled at once)."""
    if job.status == JobStatus.QUEUED or job.status == JobStatus.RUNNING:
        if job._meta.label == "training.TrainingRun":
            from webapp.training.actions import do_cancel_training_run

            do_cancel_training_run(job)
        elif job._meta.label == "evaluation.EvaluationRun":
            from webapp.evaluation.actions import do_cancel_evaluation

            do_cancel_evaluation(job)
        else:
            from webapp.tokenization.actions import do_cancel_tokenizer_run

            do_cancel_tokenizer_run(job)


def _delete_row(obj: Any) -> None:
    if obj._meta.label == "corpora.Corpus":
        from webapp.corpora.actions import do_delete_corpus

        do_delete_corpus(obj)  # also tells the corpus pages' sockets, after commit
    else:
        obj.delete()


def delete(obj: Model) -> Outcome:
    """Delete `obj` if its plan allows it, made again under a row lock; its files go after
    commit (`files_left` names any that could not be removed). A job still running is
    cancelled and marked `delete_requested` instead (`deferred`)."""
    plan = plan_for(obj)
    if not plan.allowed:
        return Outcome(False, plan)
    is_job = obj._meta.label in JOBS
    if is_job:
        _stop(obj)
    model = type(obj)
    try:
        with transaction.atomic():
            locked = model.objects.select_for_update().filter(pk=obj.pk).first()
            if locked is None:
                raise Http404(f"No such {model._meta.verbose_name}.")
            plan = plan_for(locked)
            if not plan.allowed:
                return Outcome(False, plan)
            if is_job and locked.status in ACTIVE:  # stopping: the sweep deletes it after
                model.objects.filter(pk=locked.pk).update(delete_requested=True)
                return Outcome(False, plan, deferred=True)
            plan.files  # noqa: B018  (measured now: the message reports what was removed)
            _delete_row(locked)
    except (ProtectedError, RestrictedError) as exc:  # a run started using it meanwhile
        refusal = Effect(f"refused: {exc.args[0]}", refuses=True)
        return Outcome(False, Plan(obj, plan.kind, effects=[refusal]))
    return Outcome(True, plan, files_left=[p for p in plan.paths if p.exists()])


JOBS = ("tokenization.TokenizerRun", "training.TrainingRun", "evaluation.EvaluationRun")


def finish_requested_deletions() -> int:
    """The beat's sweep: delete the jobs whose deletion waited for them to stop; return how
    many went. A job is left a heartbeat period after it finished, so that its worker has
    read its row for the last time."""
    from django.apps import apps

    settled = timezone.now() - timedelta(seconds=settings.JOB_HEARTBEAT_STALE_SECONDS)
    deleted = 0
    for label in JOBS:
        model = apps.get_model(label)
        waiting = model.objects.filter(delete_requested=True, finished_at__lt=settled)
        for job in waiting.exclude(status__in=ACTIVE):
            deleted += delete(job).deleted
    return deleted
