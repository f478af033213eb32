"""`python -m lmcore train --config run.json`: the whole run in one file, flags as overrides,
resume from the run directory alone, and SIGTERM as "checkpoint, then exit 75"."""

import json
import os
import signal
import subprocess
import sys

import pytest

from lmcore.cli import main
from lmcore.commands.train import EXIT_STOPPED


@pytest.fixture()
def run_file(tmp_path, small_tokenizer, verse_file):
    small_tokenizer.save(tmp_path / "tok")
    spec = {
        "out": "run", "tokenizer": "tok", "preset": "tiny",
        "data": {"inputs": [str(verse_file)], "val_fraction": 0.2},
        "model": {"n_layer": 1, "n_head": 2, "d_model": 32, "context": 32},
        "train": {"batch_size": 2, "grad_accum": 2, "warmup_steps": 3, "min_lr_ratio": 0.1,
                  "max_steps": 4, "eval_every": 2, "eval_tokens": 256, "seed": 5,
                  "device": "cpu", "log_every": 1},
    }  # fmt: skip
    path = tmp_path / "run.json"
    path.write_text(json.dumps(spec))
    return path


def _events(capsys):
    return [json.loads(line) for line in capsys.readouterr().out.splitlines()]


def test_it_runs_the_file_and_saves_it_resolved(tmp_path, capsys, run_file):
    assert main(["train", "--config", str(run_file)]) == 0
    events = _events(capsys)
    assert events[-1]["event"] == "done" and events[-1]["step"] == 4
    start = next(e for e in events if e["event"] == "start")
    assert start["tokens_per_step"] == 2 * 2 * 32  # batch x grad_accum x context
    saved = json.loads((tmp_path / "run" / "run.json").read_text())
    assert saved["train"]["grad_accum"] == 2 and saved["train"]["min_lr_ratio"] == 0.1
    assert saved["model"]["d_model"] == 32 and saved["data"]["dir"] == "data"
    assert saved["tokenizer"] == str(tmp_path / "tok") and saved["resume"] is False
    assert (tmp_path / "run" / "data" / "meta.json").is_file()


def test_resume_needs_only_the_run_directory(tmp_path, capsys, run_file):
    assert main(["train", "--config", str(run_file)]) == 0
    capsys.readouterr()
    (tmp_path / "tok" / "tokenizer.json").unlink()  # the checkpoint holds its own
    assert main(["train", "--out", str(tmp_path / "run"), "--resume", "--max-steps", "6"]) == 0
    events = _events(capsys)
    assert events[0]["event"] == "start" and events[0]["resumed"] and events[0]["step"] == 4
    steps = [e["step"] for e in events if e["event"] == "step"]
    assert steps[0] == 5 and events[-1]["step"] == 6  # first step = checkpoint step + 1


def test_flags_override_the_file(tmp_path, capsys, run_file):
    assert main(["train", "--config", str(run_file), "--max-steps", "2", "--grad-accum", "1"]) == 0
    events = _events(capsys)
    start = next(e for e in events if e["event"] == "start")
    assert events[-1]["step"] == 2 and start["tokens_per_step"] == 2 * 32


@pytest.mark.parametrize(
    "change, message",
    [
        ({"train": {"grad_acum": 2}}, "train: unknown field grad_acum"),
        ({"colour": "red"}, "unknown field colour"),
        ({"model": {"vocab_size": 9}}, "must be the tokenizer's (400)"),
        ({"data": {"val_fraction": 1.5}}, "data.val_fraction"),
        ({"out": None}, "no run directory"),
    ],
)
def test_a_bad_file_fails_with_one_line(tmp_path, capsys, run_file, change, message):
    spec = json.loads(run_file.read_text())
    for key, value in change.items():
        if value is None:
            spec.pop(key)
        elif isinstance(value, dict):
            spec[key] = {**spec.get(key, {}), **value}
        else:
            spec[key] = value
    run_file.write_text(json.dumps(spec))
    assert main(["train", "--config", str(run_file)]) == 1
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1
    assert not (tmp_path / "run" / "checkpoint").exists()


def test_a_resume_cannot_change_the_recipe(tmp_path, capsys, run_file):
    assert main(["train", "--config", str(run_file)]) == 0
    capsys.readouterr()
    assert main(["train", "--out", str(tmp_path / "run"), "--resume", "--lr", "0.5"]) == 1
    assert "train.lr cannot change" in capsys.readouterr().err


def test_sigterm_saves_a_checkpoint_and_exits_75(tmp_path, run_file):
    spec = json.loads(run_file.read_text())
    spec["train"].update(max_steps=100000, eval_every=100000)
    run_file.write_text(json.dumps(spec))
    child = subprocess.Popen([sys.executable, "-m", "lmcore", "train", "--config", str(run_file)],
                             stdout=subprocess.PIPE, text=True,
                             env={**os.environ, "OMP_NUM_THREADS": "1"})  # fmt: skip
    for line in child.stdout:
        if json.loads(line)["event"] == "step":
            break
    os.kill(child.pid, signal.SIGTERM)
    rest = [json.loads(line) for line in child.stdout]
    assert child.wait(60) == EXIT_STOPPED == 75
    done = rest[-1]
    assert done["event"] == "done" and done["reason"] == "cancelled"
    saved = json.loads((tmp_path / "run" / "checkpoint" / "config.json").read_text())
    assert saved["step"] == done["step"] >= 1


def test_a_reader_that_goes_away_does_not_lose_the_checkpoint(tmp_path, run_file):
    """The supervising worker died (its end of the pipe closed) and the kernel sent SIGTERM:
    the run still saves its checkpoint and exits 75 instead of dying of a broken pipe."""
    spec = json.loads(run_file.read_text())
    spec["train"].update(max_steps=100000, eval_every=100000)
    run_file.write_text(json.dumps(spec))
    child = subprocess.Popen([sys.executable, "-m", "lmcore", "train", "--config", str(run_file)],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                             env={**os.environ, "OMP_NUM_THREADS": "1"})  # fmt: skip
    for line in child.stdout:
        if json.loads(line)["event"] == "step":
            break
    child.stdout.close()  # its stop still writes "eval" and "sample" lines before the save
    os.kill(child.pid, signal.SIGTERM)
    assert child.wait(60) == EXIT_STOPPED, child.stderr.read()[-2000:]
    saved = json.loads((tmp_path / "run" / "checkpoint" / "config.json").read_text())
    assert saved["step"] >= 1
