"""Side effects on training runs: start, cancel, resume (views validate, actions act)."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from django.db import transaction

from lmcore.estimate import estimate_params
from webapp.enqueue import enqueue
from webapp.jobs import cancel as cancel_flags
from webapp.jobs.models import JobStatus
from webapp.training.models import TrainingRun


def _enqueue(run: TrainingRun) -> None:
    """Wake a gpu_train worker: it claims the oldest queued run it can hold (the database is
    the queue: workers/training.py), resuming from the checkpoint when there is one."""
    enqueue("workers.training.train_model_run", run.pk)


def do_start_training_run(user: Any, form: Any) -> TrainingRun:
    model_config, train_config = form.configs
    data = form.cleaned_data
    with transaction.atomic():
        run = TrainingRun.objects.create(
            owner=user, name=data["name"], tokenizer=data["tokenizer"], preset=data["preset"],
            model_config=asdict(model_config), train_config=train_config.to_dict(),
            params=estimate_params(model_config), devices=data["devices"],
        )  # fmt: skip
        run.corpora.set(data["corpora"])
        _enqueue(run)
    return run


def do_start_finetune_run(user: Any, version: Any, form: Any) -> TrainingRun:
    """A chat fine-tuning run of `version`: a new version of the same model when it ends."""
    model_config, train_config = form.configs
    data = form.cleaned_data
    with transaction.atomic():
        run = TrainingRun.objects.create(
            owner=user, name=version.name, tokenizer=version.tokenizer, parent=version,
            preset=version.run.preset if version.run else "tiny",
            model_config=asdict(model_config), train_config=train_config.to_dict(),
            params=version.params,
        )  # fmt: skip
        run.chat_datasets.set(data["datasets"])
        run.corpora.set(data["corpora"])
        _enqueue(run)
    return run


def do_cancel_training_run(run: TrainingRun) -> bool:
    """Queued: cancelled now. Running: `cancelling` until the trainer's next step saves."""
    if not run.request_cancel():
        return False
    if run.status == JobStatus.CANCELLING:
        cancel_flags.raise_flag(run)
    return True


def do_resume_training_run(run: TrainingRun) -> bool:
    if not run.has_checkpoint or not run.mark_resumed():
        return False
    cancel_flags.clear_flag(run)
    with transaction.atomic():
        _enqueue(run)
    return True
