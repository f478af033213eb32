"""Each process's share of the cores (lmcore/threads.py), and `lmcore train --threads N` as the
child process itself reports it (torch.get_num_threads() on its "start" line)."""

import json
import os
import subprocess
import sys

import pytest

from lmcore.threads import share_of_cores, usable_cores


@pytest.mark.parametrize(
    ("processes", "cores", "threads"),
    [(1, 2, 2), (2, 2, 1), (4, 2, 1), (2, 16, 8), (3, 16, 5), (1, 1, 1), (0, 4, 4)],
)
def test_the_cores_are_divided_among_the_processes_at_least_one_each(processes, cores, threads):
    assert share_of_cores(processes, cores=cores) == threads


def test_the_usable_cores_are_the_affinity_not_the_machine():
    before = os.sched_getaffinity(0)
    try:
        os.sched_setaffinity(0, {min(before)})  # this thread only, as `taskset -c N` would
        assert usable_cores() == 1 and share_of_cores(1) == 1
    finally:
        os.sched_setaffinity(0, before)
    assert usable_cores() == len(before)


@pytest.mark.parametrize("threads", [1, 3])
def test_the_threads_flag_reaches_the_training_process(tmp_path, small_tokenizer, verse_file,
                                                       threads):  # fmt: skip
    small_tokenizer.save(tmp_path / "tok")
    command = [sys.executable, "-m", "lmcore", "train", "--tokenizer", str(tmp_path / "tok"),
               "--input", str(verse_file), "--out", str(tmp_path / "run"), "--n-layer", "1",
               "--n-head", "2", "--d-model", "32", "--context", "32", "--batch-size", "2",
               "--max-steps", "2", "--device", "cpu", "--threads", str(threads)]  # fmt: skip
    # OMP_NUM_THREADS=2 is what torch would use without the flag
    env = {**os.environ, "OMP_NUM_THREADS": "2"}
    done = subprocess.run(command, capture_output=True, text=True, timeout=120, env=env)
    assert done.returncode == 0, done.stderr[-2000:]
    events = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    (start,) = [e for e in events if e["event"] == "start"]
    assert start["threads"] == threads


def test_a_bad_thread_count_is_refused_with_one_line(capsys, tmp_path):
    from lmcore.cli import main

    with pytest.raises(SystemExit) as exit_:
        main(["train", "--out", str(tmp_path / "run"), "--threads", "0"])
    assert exit_.value.code == 2
    assert "--threads: 0 is out of range" in capsys.readouterr().err
