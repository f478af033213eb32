"""Progress, evaluation cadence, ETA, the final evaluation inside the time limit, real tokens
counted, phases reported, and the barely-trained rule (lmcore/pace.py, lmcore/verdict.py)."""

import json
import math
import os

import pytest

from lmcore.chat import render
from lmcore.chatdata import encode_chat_data
from lmcore.checkpoint import load_checkpoint
from lmcore.data import encode_corpus
from lmcore.pace import EVAL_MIN_GAP, Pace, eta, eval_due, progress_of
from lmcore.train import TrainConfig, train
from lmcore.verdict import MIN_STEPS, barely_trained

from .conftest import make_corpus_text


def _evaluations(cfg, progress_per_step, eval_share, steps=100):
    """The steps a loop evaluates at when each step moves progress by progress_per_step and
    each evaluation by eval_share of the run (as lmcore.train does: the tenths count from
    the progress at which the previous evaluation ended)."""
    spent, since, last, evals = 0.0, 0.0, 0, []
    for step in range(1, steps + 1):
        progress = step / round(1 / progress_per_step) + spent
        if progress >= 1:
            break
        if eval_due(cfg, step, since, progress, last):
            evals.append(step)
            spent += eval_share
            since, last = progress + eval_share, step
    return evals


def test_slow_steps_cannot_make_every_step_an_evaluation():
    by_time = TrainConfig(max_seconds=60.0)
    evals = _evaluations(by_time, 1 / 30, 0.0)  # a tenth every 3 steps
    assert evals and all(b - a >= EVAL_MIN_GAP for a, b in zip(evals, evals[1:], strict=False))
    # A short step limit still evaluates at each tenth of it.
    assert _evaluations(TrainConfig(max_steps=20), 1 / 20, 0.0, 20) == [2, 4, 6, 8, 10, 12, 14,
                                                                         16, 18]  # fmt: skip


def test_an_evaluation_longer_than_a_tenth_does_not_make_the_next_step_evaluate():
    by_time = TrainConfig(max_seconds=60.0)
    # Steps of 1% of the run; each evaluation takes a quarter of it (a 60 s fine-tune).
    evals = _evaluations(by_time, 0.01, 0.25)
    assert evals[0] == 10 and evals[1] - evals[0] >= EVAL_MIN_GAP
    assert len(evals) <= 3  # not 10, 11, 12...
    # The tenths count from where the evaluation ended (progress 0.35): next due at 0.4.
    assert not eval_due(by_time, 16, 0.35, 0.39, 10) and eval_due(by_time, 16, 0.35, 0.4, 10)
    assert eval_due(by_time, 7, 0.09, 0.11) and not eval_due(by_time, 8, 0.11, 0.15)


def test_eta_leaves_out_start_up_and_evaluations():
    pace = Pace(window=4, skip=2)
    for seconds in (5.0, 3.0, 0.1, 0.1, 0.1, 0.1):  # start-up and compiling, then steady steps
        pace.add(seconds)
    assert pace.step_seconds == pytest.approx(0.1)
    by_steps = TrainConfig(max_steps=100, eval_every=50)
    # 50 steps left at 0.1 s, one periodic evaluation left? no: step 50's is the last (done),
    # then the final evaluation, 2 s.
    assert eta(by_steps, 50, 30.0, pace.step_seconds, 1.0, 2.0) == pytest.approx(5.0 + 2.0)
    by_time = TrainConfig(max_seconds=60.0)
    assert eta(by_time, 10, 45.0, None, 1.0, 2.0) == 15.0  # the final evaluation fits inside
    assert eta(by_steps, 0, 0.5, None, 0.0, 0.0) is None  # nothing measured yet
    assert progress_of(by_time, 10, 30.0, reserve=10.0) == 0.6


@pytest.fixture(scope="module")
def big_val_corpus(small_tokenizer, tmp_path_factory):
    """Half of a larger text held out: the final evaluation takes seconds on a tiny model."""
    directory = tmp_path_factory.mktemp("bigval")
    path = directory / "text.txt"
    path.write_text(make_corpus_text(n_lines=48000, seed=3), encoding="utf-8")
    return encode_corpus(small_tokenizer, [path], directory / "data", val_fraction=0.5)


def test_the_final_evaluation_fits_inside_the_time_limit(
    tmp_path, small_tokenizer, big_val_corpus, tiny_gpt_config, tiny_train_config
):
    # The final evaluation scores the whole validation tail (~0.8 s on a quiet machine, seconds
    # on a busy one): a limit of at least three such evaluations makes it matter anywhere.
    probe = []
    cfg = tiny_train_config(max_steps=1, eval_every=None, batch_size=16)
    train(tiny_gpt_config(small_tokenizer.vocab_size), cfg, big_val_corpus, small_tokenizer,
          tmp_path / "probe", on_event=probe.append)  # fmt: skip
    marks = [e for e in probe if e["event"] == "phase" and e["phase"] in ("evaluating", "saving")]
    limit = max(4.0, 3 * (marks[-1]["seconds"] - marks[-2]["seconds"]))
    cfg = tiny_train_config(max_steps=None, max_seconds=limit, eval_every=None,
                            eval_tokens=4096, log_every=10, batch_size=16)  # fmt: skip
    events = []
    result = train(tiny_gpt_config(small_tokenizer.vocab_size), cfg, big_val_corpus,
                   small_tokenizer, tmp_path / "ck", on_event=events.append)  # fmt: skip
    phases = [e for e in events if e["event"] == "phase"]
    final = [e for e in phases if e["phase"] == "evaluating"][-1]
    final_seconds = result.seconds - final["seconds"]
    steps = [e for e in events if e["event"] == "step"]
    step_seconds = max(b["seconds"] - a["seconds"] for a, b in zip(steps, steps[1:], strict=False))
    assert final_seconds > 0.1 * limit  # a final evaluation that matters (else: no test)
    assert result.reason == "max_seconds" and result.train_seconds < result.seconds
    # Within the limit, give or take one logging window of steps and the estimate's error.
    assert result.seconds <= limit + step_seconds + 0.25 * final_seconds, (result, final)


def test_the_run_reports_its_phases_and_its_progress(
    tmp_path, small_tokenizer, verse_corpus, tiny_gpt_config, tiny_train_config
):
    cfg = tiny_train_config(max_steps=20, eval_every=None, log_every=5)
    events = []
    train(tiny_gpt_config(small_tokenizer.vocab_size), cfg, verse_corpus, small_tokenizer,
          tmp_path / "ck", on_event=events.append)  # fmt: skip
    phases = [e["phase"] for e in events if e["event"] == "phase"]
    assert phases[:4] == ["training", "evaluating", "saving", "training"]
    assert phases[-2:] == ["evaluating", "saving"]
    steps = [e for e in events if e["event"] == "step"]
    assert [e["progress"] for e in steps] == [0.25, 0.5, 0.75, 1.0]
    assert all(e["eta_s"] is not None for e in steps[1:])
    assert steps[-1]["tokens"] == 20 * 4 * 32  # text windows: batch x context, all real


def test_chat_fine_tuning_counts_real_tokens_not_batch_times_context(
    tmp_path, small_tokenizer, gen_checkpoint
):
    messages = [{"role": "user", "content": "say red"}, {"role": "assistant", "content": "red"}]
    path = tmp_path / "c.jsonl"
    path.write_text("".join(json.dumps({"messages": messages}) + "\n" for _ in range(20)))
    data = encode_chat_data(small_tokenizer, [path], tmp_path / "chat", context=32)
    length = len(render(small_tokenizer, messages).ids) - 1  # inputs of one row
    model_config = load_checkpoint(gen_checkpoint).model_config
    cfg = TrainConfig(batch_size=4, max_steps=6, eval_every=1000, log_every=3, lr=1e-3,
                      warmup_steps=1, sample_tokens=2, device="cpu",
                      init_from=str(gen_checkpoint))  # fmt: skip
    events = []
    result = train(model_config, cfg, None, small_tokenizer, tmp_path / "ft", chat=data,
                   on_event=events.append)  # fmt: skip
    assert length < model_config.context
    assert result.tokens == 6 * 4 * length
    logged = [e for e in events if e["event"] == "step"]
    assert logged[-1]["tokens"] == result.tokens
    # per second of training steps (train_seconds is rounded to 10 ms)
    assert result.tokens_per_s * result.train_seconds == pytest.approx(result.tokens, rel=0.2)


@pytest.mark.parametrize(
    ("run", "expected"),
    [
        (dict(steps=3, val_loss=5.9, reason="max_seconds", seconds=60), "machine was busy"),
        (dict(steps=100, val_loss=2.0, reason="max_steps", seconds=30), "step limit was 100"),
        (
            dict(steps=2000, val_loss=0.95 * math.log(400), reason="max_seconds", seconds=600),
            "within 10% of ln(400)",
        ),
        (dict(steps=50, val_loss=3.0, reason="cancelled", seconds=10), "Resume it"),
        (dict(steps=MIN_STEPS, val_loss=3.0, reason="max_steps", seconds=30), ""),
    ],
)
def test_a_run_that_barely_trained_says_why_and_what_to_do(run, expected):
    warning = barely_trained(vocab_size=400, tokens_per_s=75.0, max_steps=run["steps"],
                             max_seconds=run["seconds"], **run)  # fmt: skip
    if expected:
        assert warning.startswith("Barely trained") and expected in warning
    else:
        assert warning == ""


def test_between_logged_steps_the_run_reports_its_pace_about_once_a_second(
    tmp_path, small_tokenizer, verse_corpus, tiny_gpt_config, tiny_train_config
):
    cfg = tiny_train_config(max_steps=None, max_seconds=2.5, log_every=100_000)
    events = []
    train(tiny_gpt_config(small_tokenizer.vocab_size), cfg, verse_corpus, small_tokenizer,
          tmp_path / "ck", on_event=events.append)  # fmt: skip
    paces = [e for e in events if e["event"] == "pace"]
    assert 1 <= len(paces) <= 3 and not [e for e in events if e["event"] == "step"]
    assert all(b["seconds"] - a["seconds"] >= 0.99 for a, b in zip(paces, paces[1:], strict=False))
    assert all(0 < p["progress"] < 1 and p["eta_s"] == pytest.approx(2.5 - p["seconds"], abs=0.05)
               for p in paces)  # fmt: skip


@pytest.mark.slow
def test_data_parallel_chat_fine_tuning_counts_each_ranks_real_tokens(
    tmp_path, small_tokenizer, gen_checkpoint
):
    """Rows of different lengths fall to each rank: the count is summed over the ranks, and
    2 processes x batch 4 count exactly what 1 process x batch 8 counts (the same rows)."""
    import subprocess
    import sys

    words = ["red", "blue green", "white black pink red", "one two three four five six"]
    path = tmp_path / "c.jsonl"
    path.write_text("".join(json.dumps({"messages": [
        {"role": "user", "content": f"say {w}"}, {"role": "assistant", "content": w}]}) + "\n"
        for w in words * 8))  # fmt: skip

    def run_file(name, batch_size):
        spec = {"out": str(tmp_path / name), "model": {"dropout": 0.0},
                "data": {"inputs": [], "dir": str(tmp_path / "data")},
                "train": {"batch_size": batch_size, "max_steps": 4, "eval_every": 1000,
                          "log_every": 1, "device": "cpu", "lr": 1e-3, "warmup_steps": 1,
                          "sample_tokens": 2},
                "finetune": {"init_from": str(gen_checkpoint), "chat_data": [str(path)]}}  # fmt: skip
        (tmp_path / f"{name}.json").write_text(json.dumps(spec))
        return str(tmp_path / f"{name}.json")

    def done(command):
        out = subprocess.run(command, capture_output=True, text=True, timeout=300,
                             env={**os.environ, "OMP_NUM_THREADS": "1"})  # fmt: skip
        assert out.returncode == 0, out.stderr[-3000:]
        return [json.loads(line) for line in out.stdout.splitlines()][-1]

    lmcore = [sys.executable, "-m", "lmcore", "train", "--config"]
    ddp_file = run_file("ddp", 4)
    done([*lmcore, ddp_file, "--prepare-only"])
    torchrun = [sys.executable, "-m", "torch.distributed.run", "--standalone",
                "--nproc-per-node=2", "-m", "lmcore", "train", "--config", ddp_file]  # fmt: skip
    ddp, one = done(torchrun), done([*lmcore, run_file("one", 8)])
    assert ddp["world_size"] == 2 and ddp["tokens"] == one["tokens"]
    assert one["tokens"] < 4 * 8 * 32  # not batch x context
