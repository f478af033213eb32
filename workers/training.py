"""Task: train (or resume) the model of a TrainingRun row on the `gpu_train` queue.

The adapter between the row and `lmcore.train`: encode the corpora once into the run's
directory, train with an `on_event` that stores each metric/sample as a RunEvent and pushes it
to the run's Channels group, beat the row every few seconds, and read the cancel flag (Redis)
every step. A finished or cancelled run with a checkpoint becomes a new ModelVersion.
"""

from __future__ import annotations

import math
from typing import Any

from celery import shared_task

from webapp.jobs.models import JobStatus
from webapp.jobs.reporting import JobReporter
from webapp.training.models import TrainingRun
from workers.jobs import corpus_paths, run_job


@shared_task(name="workers.training.train_model_run")  # routed to gpu_train (settings)
def train_model_run(run_id: int, resume: bool = False) -> None:
    run_job(TrainingRun, run_id, lambda run, reporter: _work(run, reporter, resume))


def _work(run: Any, reporter: JobReporter, resume: bool) -> str:
    result = _train(run, reporter, resume)
    _register(run, result)
    return JobStatus.CANCELLED if result.reason == "cancelled" else JobStatus.SUCCEEDED


def _train(run: Any, reporter: JobReporter, resume: bool) -> Any:
    from lmcore.config import GPTConfig, TrainConfig
    from lmcore.tokenizer import Tokenizer
    from lmcore.train import train
    from webapp.jobs import cancel as cancel_flags

    tokenizer = Tokenizer.load(run.tokenizer.tokenizer_path)
    corpus = _encoded_corpus(run, tokenizer)
    model_config = GPTConfig(**run.model_config)
    train_config = TrainConfig.from_dict(run.train_config)
    flags, flag = cancel_flags.client(), cancel_flags.flag_key(run)
    progress = _Progress(run, reporter, train_config)

    def should_cancel() -> bool:
        # The row (read by the heartbeat thread) is the truth; the Redis flag is the fast path.
        return reporter.cancelled.is_set() or bool(flags.exists(flag))

    try:
        return train(model_config, train_config, corpus, tokenizer, run.checkpoint_dir,
                     resume=resume and run.has_checkpoint, on_event=progress.on_event,
                     should_cancel=should_cancel)  # fmt: skip
    finally:
        flags.close()


def _encoded_corpus(run: Any, tokenizer: Any) -> Any:
    from lmcore.data import encode_corpus, load_encoded

    data_dir = run.directory / "data"
    if (data_dir / "meta.json").is_file():
        return load_encoded(data_dir)  # a resumed run trains on exactly the same tokens
    return encode_corpus(tokenizer, corpus_paths(run), data_dir)


class _Progress:
    """Turns lmcore's events into RunEvents, pushes and the row's progress."""

    def __init__(self, run: Any, reporter: JobReporter, train_config: Any) -> None:
        self.run, self.reporter, self.cfg = run, reporter, train_config
        # A run stopped right after an evaluation reports that step again: store it once.
        self._reported: set[tuple[str, int, str]] = set()

    def on_event(self, event: dict[str, Any]) -> None:
        from lmcore.train import progress_of

        kind = event.get("event")
        if kind == "step":
            progress = progress_of(self.cfg, event["step"], event.get("seconds", 0.0))
            self.reporter.progress = min(1.0, progress)
            keys = ("loss", "lr", "tokens_per_s", "eta_s", "seconds")
            self._store("run.metrics", event["step"], {k: event.get(k) for k in keys})
        elif self._seen(kind, event.get("step", 0), str(event.get("prompt", ""))):
            return
        elif kind == "eval":
            keys = ("val_loss", "val_bpb", "seconds")
            self._store("run.metrics", event["step"], {k: event.get(k) for k in keys})
            self._best(event.get("val_bpb"))
        elif kind == "sample":
            self._store(
                "run.sample",
                event["step"],
                {"prompt": event.get("prompt"), "text": event.get("text")},
            )

    def _seen(self, kind: str | None, step: int, key: str) -> bool:
        if kind not in ("eval", "sample"):
            return False
        seen = (kind, step, key) in self._reported
        self._reported.add((kind, step, key))
        return seen

    def _store(self, kind: str, step: int, data: dict[str, Any]) -> None:
        from webapp.training.models import RunEvent

        data = {
            k: (None if isinstance(v, float) and not math.isfinite(v) else v)
            for k, v in data.items()
        }
        event = RunEvent.objects.create(run=self.run, type=kind, step=step, data=data)
        self.reporter.push(event.payload())

    def _best(self, bpb: float | None) -> None:
        if bpb is None or not math.isfinite(bpb):
            return
        if self.run.best_val_bpb is None or bpb < self.run.best_val_bpb:
            self.run.best_val_bpb = bpb
            self.run.save(update_fields=["best_val_bpb"])


def _register(run: Any, result: Any) -> None:
    from webapp.registry.actions import do_register_version

    if not run.has_checkpoint or result.step == 0:
        return
    finite = lambda v: v if isinstance(v, float) and math.isfinite(v) else None  # noqa: E731
    metrics = {"step": result.step, "val_loss": finite(result.val_loss),
               "val_bpb": finite(result.val_bpb), "params": result.params,
               "tokens_per_s": result.tokens_per_s, "seconds": result.seconds,
               "reason": result.reason}  # fmt: skip
    run.params = result.params
    run.save(update_fields=["params"])
    do_register_version(run, metrics)
