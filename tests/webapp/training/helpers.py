"""A tiny training run for tests: seconds on a CPU, with evaluations and checkpoints."""

from __future__ import annotations

from typing import Any

TINY_FORM = {
    "preset": "tiny", "n_layer": 1, "n_head": 2, "d_model": 32, "context": 32,
    "batch_size": 4, "lr": 3e-3, "eval_every": 10, "device": "cpu", "seed": 7,
}  # fmt: skip


def form_data(corpus: Any, tokenizer_run: Any, **changes: Any) -> dict[str, Any]:
    return {"name": "tiny-words", "corpora": [corpus.pk], "tokenizer": tokenizer_run.pk,
            "max_steps": 30, **TINY_FORM, **changes}  # fmt: skip


def make_run(
    alice: Any, corpus: Any, tokenizer_run: Any, enqueue: bool = False, **changes: Any
) -> Any:
    """A queued TrainingRun built through the real form (as the page would); its task is only
    sent to the workers with `enqueue=True`, so a test can run it where it wants."""
    from unittest import mock

    from webapp.training.actions import do_start_training_run
    from webapp.training.forms import TrainingRunForm

    form = TrainingRunForm(form_data(corpus, tokenizer_run, **changes), user=alice)
    assert form.is_valid(), form.errors
    if enqueue:
        return do_start_training_run(alice, form)
    with mock.patch("webapp.training.actions._enqueue"):
        return do_start_training_run(alice, form)
