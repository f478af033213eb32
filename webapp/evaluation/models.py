"""Evaluations (docs/architecture.md, "Evaluation"): a run of some versions on some tasks, its
results per (version, task), and the task files users upload.

`EvaluationRun` is a job like a training run (webapp/jobs: queued → running → succeeded |
failed | cancelled; it counts against the per-user job limit by being a `Job` with an owner).
Its `tasks` list holds one spec per task, `{"key", "label", "kind", ...}`: `harness` (a task
lm-evaluation-harness knows by `name`), `file` (an uploaded `EvalTask`), `cloze` (a held-out
cloze task from a corpus, with its `seed` and `items`) and `bpb` (bits per byte on a corpus's
validation tail). The `key` names a task across runs, so the leaderboard puts the results of
different runs of the same task in one column.

Who sees a result (`EvalResult.objects.for_user`): one who may use its version AND may see its
task's source. A harness task's name is public; a corpus (cloze, bits per byte) or an uploaded
task file is seen by whom its own `for_user` lets see it, and by whoever ran the evaluation.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.urls import reverse

from webapp.corpora.models import Corpus
from webapp.jobs.models import Run, RunQuerySet, new_storage_key
from webapp.playground.access import playable_versions
from webapp.web.files import FileOwner


class EvalTaskQuerySet(models.QuerySet):
    def for_user(self, user: Any) -> EvalTaskQuerySet:
        return self.filter(owner=user) if user.is_authenticated else self.none()


class EvalTask(FileOwner, models.Model):
    """An uploaded harness task: its checked YAML settings here, its items on disk."""

    noun = "evaluation task"

    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="eval_tasks"
    )
    name = models.CharField(max_length=80)
    config = models.JSONField()  # lmcore.taskfiles.check_task's cleaned settings
    output_type = models.CharField(max_length=32)
    items = models.PositiveIntegerField()
    storage_key = models.CharField(max_length=32, unique=True, default=new_storage_key,
                                   editable=False)  # fmt: skip
    created_at = models.DateTimeField(auto_now_add=True)

    objects = EvalTaskQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]
        verbose_name = "evaluation task"

    def __str__(self) -> str:
        return self.name

    def get_absolute_url(self) -> str:
        return reverse("evaluation:tasks")

    @property
    def directory(self) -> Path:
        return Path(settings.MEDIA_ROOT) / "evaltasks" / f"user-{self.owner_id}" / self.storage_key

    @property
    def items_path(self) -> Path:
        return self.directory / "items.jsonl"

    def owned_paths(self) -> list[Path]:
        return [self.directory]

    def files_state(self) -> str | None:
        return "written once"  # by do_create_task_file, inside the transaction that makes it


class EvaluationRun(Run):
    media_dir, group_prefix = "evaluations", "evaluations"
    noun = "evaluation"
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="evaluation_runs"
    )
    name = models.CharField(max_length=200)
    versions = models.ManyToManyField("registry.ModelVersion", related_name="evaluations")
    corpora = models.ManyToManyField("corpora.Corpus", related_name="evaluations", blank=True)
    task_files = models.ManyToManyField(EvalTask, related_name="evaluations", blank=True)
    tasks = models.JSONField(default=list)
    limit = models.PositiveIntegerField(null=True, blank=True, help_text="Items per task.")
    queue = models.CharField(max_length=16, default="cpu")

    objects = RunQuerySet.as_manager()

    def __str__(self) -> str:
        return self.name

    def get_absolute_url(self) -> str:
        return reverse("evaluation:detail", args=[self.pk])


class EvalResultQuerySet(models.QuerySet):
    def for_user(self, user: Any) -> EvalResultQuerySet:
        """Results of versions `user` may use (the playground's rule) on tasks whose source they
        may see: any harness task; a corpus's cloze or bits per byte, or a task file, where the
        corpus's or file's `for_user` shows it to them, or where the run is theirs (so results
        outlive a deleted source for who made them). Another user's private corpus or task
        file never names a column, a figure or an item of theirs."""
        corpora = Corpus.objects.for_user(user).values_list("pk", flat=True)
        files = EvalTask.objects.for_user(user).values_list("pk", flat=True)
        runs = EvaluationRun.objects.for_user(user)
        source = Q(task_key__startswith="harness:") | Q(run__in=runs)
        source |= Q(task_key__in=[f"file:{pk}" for pk in files])
        for pk in corpora:  # keys: bpb:<corpus>, cloze:<corpus>:s<seed>:n<items>
            source |= Q(task_key=f"bpb:{pk}") | Q(task_key__startswith=f"cloze:{pk}:")
        return self.filter(source, version__in=playable_versions(user))


class EvalResult(models.Model):
    """One version on one task: the harness's metrics with their standard errors. Each item's
    details are in `samples_path` (JSONL)."""

    run = models.ForeignKey(EvaluationRun, on_delete=models.CASCADE, related_name="results")
    version = models.ForeignKey(
        "registry.ModelVersion", on_delete=models.CASCADE, related_name="eval_results"
    )
    task_key = models.CharField(max_length=200)
    task_label = models.CharField(max_length=200)
    output_type = models.CharField(max_length=32)
    metrics = models.JSONField(default=dict)  # {name: {"value", "stderr"}}
    n = models.PositiveIntegerField(default=0)
    seconds = models.FloatField(default=0.0)
    created_at = models.DateTimeField(auto_now_add=True)

    objects = EvalResultQuerySet.as_manager()

    class Meta:
        ordering = ["run_id", "version_id", "task_key"]
        constraints = [
            models.UniqueConstraint(fields=["run", "version", "task_key"], name="one_result")
        ]

    def __str__(self) -> str:
        return f"{self.version} on {self.task_label}"

    @property
    def samples_path(self) -> Path:
        return self.run.directory / f"result-{self.pk}.jsonl"

    @property
    def headline(self) -> tuple[str, dict[str, Any]] | None:
        """The metric a table shows: acc, exact_match, bpb or bits_per_byte, else the first."""
        for name in ("acc", "exact_match", "bpb", "bits_per_byte"):
            if name in self.metrics:
                return name, self.metrics[name]
        return next(iter(self.metrics.items()), None)

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.pk, "run": self.run_id, "version_id": self.version_id,
                "version": str(self.version), "task": self.task_key, "label": self.task_label,
                "output_type": self.output_type, "n": self.n, "metrics": self.metrics,
                "seconds": round(self.seconds, 3)}  # fmt: skip
