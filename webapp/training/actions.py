"""Side effects on training runs: start, cancel, resume (views validate, actions act)."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from django.db import transaction

from lmcore.estimate import estimate_params
from webapp.jobs import cancel as cancel_flags
from webapp.jobs.models import JobStatus
from webapp.limits import policy
from webapp.limits.storage import TRAINING_BYTES_PER_PARAM
from webapp.training.lora_fields import trainable
from webapp.training.models import TrainingRun
from webapp.web.enqueue import enqueue


def _enqueue(run: TrainingRun) -> None:
    """Wake a gpu_train worker: it claims the oldest queued run it can hold (the database is
    the queue: workers/training.py), resuming from the checkpoint when there is one."""
    enqueue("workers.training.train_model_run", run.pk)


def do_start_training_run(user: Any, form: Any) -> TrainingRun:
    model_config, train_config = form.configs
    data = form.cleaned_data
    params = estimate_params(model_config)
    with transaction.atomic():
        policy.reserve_job(user, TRAINING_BYTES_PER_PARAM * params)  # LimitExceeded
        run = TrainingRun.objects.create(
            owner=user, name=data["name"], tokenizer=data["tokenizer"], preset=data["preset"],
            model_config=asdict(model_config), train_config=train_config.to_dict(),
            params=params, devices=data["devices"],
        )  # fmt: skip
        run.corpora.set(data["corpora"])
        _enqueue(run)
    return run


def do_start_finetune_run(user: Any, version: Any, form: Any) -> TrainingRun:
    """A chat fine-tuning run of `version` (every weight, or a LoRA adapter): a new version of
    the same model when it ends."""
    model_config, train_config = form.configs
    data = form.cleaned_data
    stored = trainable(model_config, train_config.lora)  # what its checkpoint keeps
    with transaction.atomic():
        policy.reserve_job(user, TRAINING_BYTES_PER_PARAM * stored)
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
    """Queue a failed or cancelled run again from its checkpoint; False when it cannot resume,
    LimitExceeded when its owner's limits (as they are now) refuse it."""
    if not run.has_checkpoint:
        return False
    with transaction.atomic():
        policy.reserve_job(run.owner)
        limits = policy.limits_for(run.owner)
        policy.check_run_shape(limits, run.params or 0, run.devices)
        if not run.mark_resumed():
            return False
        budget = policy.time_budget(limits, run.train_config.get("max_seconds"))
        if budget != run.train_config.get("max_seconds"):  # the time trained so far counts
            run.train_config = {**run.train_config, "max_seconds": budget}
            run.save(update_fields=["train_config"])
        _enqueue(run)  # (the claim drops the cancel flag the last cancel left: workers/training.py)
    return True
