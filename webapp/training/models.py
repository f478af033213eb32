"""`TrainingRun`: training a GPT on corpora with a tokenizer, and its `RunEvent` history.

The run's directory holds the encoded corpus (`data/`) and the latest checkpoint
(`checkpoint/`, lmcore's format). Every metric, evaluation and sample the trainer reports is
a `RunEvent` row, so the live chart replays from the database after a reload or a reconnect,
and a resumed run continues the same curve.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import models
from django.urls import reverse
from django.utils import timezone

from lmcore.config import CHECKPOINT_SUBDIR
from lmcore.errors import LmcoreError
from webapp.jobs.models import JobStatus, Run, RunQuerySet

# What a running run is doing, in the words its page shows (the `run.phase` events).
PHASES = {
    "starting": "Starting the training process…",
    "encoding": "Preparing the data: encoding the corpus…",
    "compiling": "Compiling the model for the GPU: the first step waits for it…",
    "training": "Training…",
    "evaluating": "Evaluating on the held-out text, then sampling…",
    "saving": "Saving a checkpoint…",
}


class TrainingRun(Run):
    media_dir, group_prefix = "runs", "runs"
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="training_runs"
    )
    name = models.CharField(max_length=100, help_text="The model's name; versions share it.")
    corpora = models.ManyToManyField("corpora.Corpus", related_name="training_runs")
    # RESTRICT, not PROTECT: a tokenizer its runs use cannot be deleted on its own
    # (its deletion plan says which run to delete first), but a deleted user takes both.
    # Null for a fine-tuning run of an imported version, which brought its own tokenizer.
    tokenizer = models.ForeignKey(
        "tokenization.TokenizerRun", on_delete=models.RESTRICT, related_name="training_runs",
        null=True, blank=True,
    )  # fmt: skip
    # Chat fine-tuning (lmcore/finetune.py): the version whose weights the run starts from, and
    # the conversation datasets it learns from (`corpora` then holds text mixed in, if any).
    parent = models.ForeignKey(
        "registry.ModelVersion", on_delete=models.SET_NULL, null=True, blank=True,
        related_name="finetune_runs",
    )  # fmt: skip
    chat_datasets = models.ManyToManyField(
        "corpora.Corpus", related_name="finetune_runs", blank=True
    )
    preset = models.CharField(max_length=20)
    model_config = models.JSONField()  # lmcore GPTConfig fields
    train_config = models.JSONField()  # lmcore TrainConfig fields
    params = models.BigIntegerField(null=True, blank=True)
    best_val_bpb = models.FloatField(null=True, blank=True)
    devices = models.PositiveSmallIntegerField(
        default=1, help_text="Training processes: GPUs, or CPU processes on a machine without."
    )
    # When the run last joined the queue (created, resumed, or put back by a worker's
    # shutdown): the queue's order, and what its position counts from.
    queued_at = models.DateTimeField(default=timezone.now, db_index=True)
    # From the trainer's "done" line: seconds spent in training steps (the rest of the run is
    # start-up, encoding and evaluations), and why the run barely trained, if it did
    # (lmcore/verdict.py): its pages and its version's say so.
    train_seconds = models.FloatField(null=True, blank=True)
    warning = models.TextField(blank=True)

    objects = RunQuerySet.as_manager()

    def __str__(self) -> str:
        return f"{self.name} #{self.pk}"

    def get_absolute_url(self) -> str:
        return reverse("training:detail", args=[self.pk])

    @property
    def checkpoint_dir(self) -> Path:
        return self.directory / CHECKPOINT_SUBDIR

    @property
    def is_finetune(self) -> bool:
        return bool(self.train_config.get("init_from"))

    @property
    def noun(self) -> str:
        return "fine-tuning run" if self.is_finetune else "training run"

    @property
    def has_checkpoint(self) -> bool:
        return (self.checkpoint_dir / "config.json").is_file()

    @property
    def can_resume(self) -> bool:
        return self.status in (JobStatus.FAILED, JobStatus.CANCELLED) and self.has_checkpoint

    @property
    def run_file(self) -> Path:
        return self.directory / "run.json"

    def write_run_spec(self, inputs: list[Path]) -> Path:
        """RUN/run.json for lmcore (lmcore/runspec.py) from the row, the whole run in one file:
        trained on `inputs` (the corpora's text files, mixed into a fine-tune's batches)."""
        model = {k: v for k, v in self.model_config.items() if k != "vocab_size"}
        # A fine-tuning run takes the parent's own tokenizer (lmcore/runspec.py): imports have
        # no tokenizer run.
        tokenizer = (Path(self.tokenizer.tokenizer_path) if self.tokenizer
                     else Path(self.train_config["init_from"]) / "tokenizer.json")  # fmt: skip
        spec = {"out": str(self.directory), "tokenizer": str(tokenizer), "preset": self.preset,
                "model": model, "train": self.train_config,
                "data": {"inputs": [str(p) for p in inputs]}}  # fmt: skip
        if self.is_finetune:  # chat fine-tuning: the parent's model, conversations
            datasets = list(self.chat_datasets.order_by("pk"))
            missing = [d.name for d in datasets if not d.path.exists()]
            if not datasets or missing:
                raise LmcoreError(
                    f"conversation files are missing ({', '.join(missing) or 'none'})"
                )
            spec["model"] = {"dropout": model.get("dropout", 0.0)}
            spec["finetune"] = {"init_from": self.train_config["init_from"],
                                "chat_data": [str(d.path) for d in datasets],
                                "text_ratio": self.train_config.get("text_ratio", 0.0),
                                "lora": self.train_config.get("lora")}  # fmt: skip
        path = self.run_file
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(spec, indent=2) + "\n", encoding="utf-8")
        return path

    def checkpoint_step(self) -> int | None:
        """The step of the run's checkpoint (lmcore's config.json), None without one."""
        config = self.checkpoint_dir / "config.json"
        if not config.is_file():
            return None
        return int(json.loads(config.read_text(encoding="utf-8"))["step"])

    def queue_position(self) -> int | None:
        """1 for the next run to start; None unless queued. Runs share the `gpu_train` queue,
        in the order they (last) joined it."""
        if self.status != JobStatus.QUEUED:
            return None
        ahead = TrainingRun.objects.filter(status=JobStatus.QUEUED).filter(
            models.Q(queued_at__lt=self.queued_at)
            | models.Q(queued_at=self.queued_at, pk__lt=self.pk)
        )
        return ahead.count() + 1

    def mark_resumed(self) -> bool:
        """failed | cancelled → queued, keeping the history and checkpoint (a resume)."""
        return self._transition(
            (JobStatus.FAILED, JobStatus.CANCELLED),
            status=JobStatus.QUEUED,
            error="",
            finished_at=None,
            queued_at=timezone.now(),
        )

    def mark_requeued(self) -> bool:
        """running → queued with its checkpoint: its worker was told to stop (a deploy)."""
        return self._transition(
            (JobStatus.RUNNING,), status=JobStatus.QUEUED, queued_at=timezone.now()
        )

    @property
    def wall_seconds(self) -> float | None:
        """Launch (its last start, after a resume) to end."""
        if self.started_at is None or self.finished_at is None:
            return None
        return (self.finished_at - self.started_at).total_seconds()

    def last_phase(self) -> RunEvent | None:
        return self.events.filter(type="run.phase").order_by("-id").first()

    # --- what the training worker records (workers/training.py) ------------------------------
    def record_event(
        self, kind: str, step: int, data: dict[str, Any], retried: bool = False
    ) -> dict[str, Any]:
        """Store one thing the trainer said (non-finite numbers as None, corpora by the
        names the user gave them) and keep the best validation figure; its payload. After a
        failed attempt (`retried`), one that committed before its answer was lost is kept."""
        data = {k: (None if isinstance(v, float) and not math.isfinite(v) else v)
                for k, v in data.items()}  # fmt: skip
        if "corpora" in data:
            data["corpora"] = self._by_name(data["corpora"])
        if retried:
            for old in RunEvent.objects.filter(run=self, type=kind, step=step):
                if old.data == data:
                    return old.payload()
        event = RunEvent.objects.create(run=self, type=kind, step=step, data=data)
        bpb = data.get("val_bpb")
        if bpb is not None and (self.best_val_bpb is None or bpb < self.best_val_bpb):
            TrainingRun.objects.filter(pk=self.pk).update(best_val_bpb=bpb)
            self.best_val_bpb = bpb
        return event.payload()

    def _by_name(self, per_file: dict[str, Any]) -> dict[str, Any]:
        """Validation bits per byte per corpus (or dataset), keyed by the name the user gave
        it rather than its file's."""
        files = [*self.corpora.all(), *self.chat_datasets.all()]
        names = {c.path.name: c.name for c in files}
        return {names.get(f, f): r.get("val_bpb") for f, r in per_file.items()}

    def record_end(self, done: dict[str, Any]) -> None:
        """The trainer's "done" line: parameters, time in training steps, and the warning."""
        fields = {"params": done.get("params"), "train_seconds": done.get("train_seconds"),
                  "warning": done.get("warning") or ""}  # fmt: skip
        TrainingRun.objects.filter(pk=self.pk).update(**fields)
        for name, value in fields.items():
            setattr(self, name, value)

    def status_dict(self) -> dict[str, Any]:
        return {
            **super().status_dict(),
            "queue_position": self.queue_position(),
            "best_val_bpb": self.best_val_bpb,
            "can_resume": self.can_resume,
            "devices": self.devices,
        }


class RunEvent(models.Model):
    """One thing the trainer said: a `run.metrics`, `run.sample` or `run.phase` payload (the `/ws/runs/<id>/`
    protocol: webapp/training/consumers.py)."""

    run = models.ForeignKey(TrainingRun, on_delete=models.CASCADE, related_name="events")
    type = models.CharField(max_length=20)  # run.metrics | run.sample | run.phase
    step = models.PositiveIntegerField()
    data = models.JSONField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]
        indexes = [models.Index(fields=["run", "id"])]

    def __str__(self) -> str:
        return f"{self.type} at step {self.step} of run {self.run_id}"

    def payload(self) -> dict[str, Any]:
        return {"type": self.type, "id": self.pk, "step": self.step, **self.data}
