"""The training loop: learning, exact resume, cancel, limits, divergence, schedule."""

import math

import pytest
import torch

from lmcore.checkpoint import load_checkpoint, read_config
from lmcore.errors import LmcoreError
from lmcore.train import TrainConfig, _Run, eval_due, train


def _losses(events):
    return [e["loss"] for e in events if e["event"] == "step"]


def _run(tmp_path, name, tokenizer, corpus, model_cfg, train_cfg, **kwargs):
    events = []
    result = train(model_cfg, train_cfg, corpus, tokenizer, tmp_path / name,
                   on_event=events.append, **kwargs)  # fmt: skip
    return result, events


def test_a_two_layer_model_learns_a_short_text_by_heart(
    tmp_path, small_tokenizer, verse_corpus, tiny_gpt_config, tiny_train_config
):
    model_cfg = tiny_gpt_config(small_tokenizer.vocab_size)
    train_cfg = tiny_train_config(batch_size=16, max_steps=150, warmup_steps=10, lr=2e-2)
    result, events = _run(tmp_path, "ck", small_tokenizer, verse_corpus, model_cfg, train_cfg)
    losses = _losses(events)
    assert losses[0] > 3.0 and losses[-1] < 0.5
    assert result.val_loss < 0.5 and result.reason == "max_steps" and result.step == 150
    kinds = [e["event"] for e in events]
    assert kinds[0] == "start" and kinds[-1] == "done" and "eval" in kinds and "sample" in kinds


@pytest.mark.parametrize("optimizer", ["adamw", "muon"])
def test_a_resumed_run_repeats_the_uninterrupted_run_exactly(
    optimizer, tmp_path, small_tokenizer, verse_corpus, tiny_gpt_config, tiny_train_config
):
    # Dropout and gradient accumulation on: their randomness and batches must resume too; so
    # must the optimizer's state (a restart from the weights alone would differ at once).
    model_cfg = tiny_gpt_config(small_tokenizer.vocab_size, dropout=0.1)
    train_cfg = tiny_train_config(max_steps=8, grad_accum=2, optimizer=optimizer, warmdown=0.5)
    args = (small_tokenizer, verse_corpus, model_cfg, train_cfg)
    _, whole = _run(tmp_path, "whole", *args)
    first = []
    train(model_cfg, args[3], verse_corpus, small_tokenizer, tmp_path / "split",
          on_event=first.append, should_cancel=_cancel_after(first, steps=3))  # fmt: skip
    assert read_config(tmp_path / "split")["step"] == 3
    _, rest = _run(tmp_path, "split", *args, resume=True)
    assert _losses(first) + _losses(rest) == _losses(whole)
    resumed = load_checkpoint(tmp_path / "split").model.state_dict()
    uninterrupted = load_checkpoint(tmp_path / "whole").model.state_dict()
    assert all(torch.equal(resumed[k], uninterrupted[k]) for k in uninterrupted)


def _cancel_after(events, steps):
    """A should_cancel that turns true once `steps` step events have been seen."""
    return lambda: sum(e["event"] == "step" for e in events) >= steps


def test_cancel_saves_a_resumable_checkpoint(
    tmp_path, small_tokenizer, verse_corpus, tiny_gpt_config, tiny_train_config
):
    events = []
    result = train(tiny_gpt_config(small_tokenizer.vocab_size), tiny_train_config(max_steps=100),
                   verse_corpus, small_tokenizer, tmp_path / "ck", on_event=events.append,
                   should_cancel=_cancel_after(events, steps=2))  # fmt: skip
    assert (result.reason, result.step) == ("cancelled", 2)
    assert events[-1] == {**result.to_event(), "event": "done"}
    assert math.isfinite(result.val_bpb)
    assert (tmp_path / "ck" / "optimizer.pt").is_file()
    assert load_checkpoint(tmp_path / "ck").step == 2


def test_a_time_limit_stops_the_run(
    tmp_path, small_tokenizer, verse_corpus, tiny_gpt_config, tiny_train_config
):
    train_cfg = tiny_train_config(max_steps=None, max_seconds=0.5, log_every=1000)
    result, events = _run(tmp_path, "ck", small_tokenizer, verse_corpus,
                          tiny_gpt_config(small_tokenizer.vocab_size), train_cfg)  # fmt: skip
    assert result.reason == "max_seconds" and result.step > 0 and result.tokens_per_s > 0
    assert result.seconds >= 0.5


def test_a_diverging_run_fails_clearly_and_keeps_the_last_good_checkpoint(
    tmp_path, monkeypatch, small_tokenizer, verse_corpus, tiny_gpt_config, tiny_train_config
):
    real_step = _Run.train_step

    def step_that_diverges(self, lr):
        loss, tokens = real_step(self, lr)
        return (loss * math.nan if self.step >= 5 else loss), tokens

    monkeypatch.setattr(_Run, "train_step", step_that_diverges)
    with pytest.raises(LmcoreError, match="NaN.*lower learning rate"):
        _run(tmp_path, "ck", small_tokenizer, verse_corpus,
             tiny_gpt_config(small_tokenizer.vocab_size), tiny_train_config(eval_every=3))  # fmt: skip
    assert load_checkpoint(tmp_path / "ck").step == 3


def test_mismatched_vocabularies_are_refused(
    tmp_path, small_tokenizer, verse_corpus, tiny_gpt_config, tiny_train_config
):
    with pytest.raises(LmcoreError, match="vocabulary sizes differ"):
        _run(tmp_path, "ck", small_tokenizer, verse_corpus, tiny_gpt_config(512),
             tiny_train_config())  # fmt: skip


def test_without_eval_every_a_run_evaluates_at_each_tenth_of_its_length(
    tmp_path, small_tokenizer, verse_corpus, tiny_gpt_config, tiny_train_config
):
    cfg = tiny_train_config(max_steps=20, eval_every=None, log_every=5)
    _, events = _run(tmp_path, "ck", small_tokenizer, verse_corpus,
                     tiny_gpt_config(small_tokenizer.vocab_size), cfg)  # fmt: skip
    evals = [e["step"] for e in events if e["event"] == "eval"]
    samples = {e["step"] for e in events if e["event"] == "sample"}
    assert evals == [2, 4, 6, 8, 10, 12, 14, 16, 18, 20]  # nine periodic, then the final one
    assert samples == set(evals)


def test_evaluations_follow_progress_by_steps_or_by_time():
    by_time = TrainConfig(max_seconds=30.0)
    assert eval_due(by_time, 7, 0.09, 0.11) and not eval_due(by_time, 8, 0.11, 0.15)
    assert not eval_due(by_time, 70, 0.95, 1.0)  # the final evaluation comes after the loop
    assert eval_due(TrainConfig(max_steps=10, eval_every=3), 6, 0.5, 0.6)
    assert not eval_due(TrainConfig(max_steps=10, eval_every=3), 7, 0.6, 0.7)


@pytest.mark.parametrize(
    "bad", [dict(max_steps=None), dict(batch_size=0), dict(lr=0.0), dict(device="tpu")]
)
def test_bad_settings_are_refused(bad):
    with pytest.raises(LmcoreError):
        TrainConfig(**{"max_steps": 10, **bad}).validate()
