"""Data-parallel training: the same CLI under torchrun, 2 CPU processes with gloo."""

import json
import os
import subprocess
import sys

import pytest

from lmcore.checkpoint import read_config


@pytest.mark.slow
def test_two_processes_train_and_only_rank_0_reports(tmp_path, small_tokenizer, verse_file):
    small_tokenizer.save(tmp_path / "tok")
    command = [
        sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node=2",
        "-m", "lmcore", "train", "--tokenizer", str(tmp_path / "tok"), "--input", str(verse_file),
        "--out", str(tmp_path / "run"), "--n-layer", "2", "--n-head", "2", "--d-model", "32",
        "--context", "32", "--batch-size", "4", "--max-steps", "6", "--eval-every", "3",
        "--device", "cpu",
    ]  # fmt: skip
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run(command, capture_output=True, text=True, timeout=240, env=env)
    assert done.returncode == 0, done.stderr[-2000:]
    events = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    kinds = [e["event"] for e in events]
    assert kinds.count("start") == 1 and kinds.count("done") == 1  # rank 0 alone prints
    start, final = events[0], events[-1]
    assert start["world_size"] == 2 and start["tokens_per_step"] == 2 * 4 * 32
    assert final["step"] == 6 and final["reason"] == "max_steps"
    assert [e["step"] for e in events if e["event"] == "checkpoint"] == [3, 6]
    assert read_config(tmp_path / "run")["step"] == 6
