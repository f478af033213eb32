"""Training as supervised processes: what the child process and data parallelism cost on CPU.

Prints one JSON object; progress goes to stderr.

    .venv/bin/python bench/supervised.py --mode processes   # tokens/s, 1 vs 2 CPU processes
    .venv/bin/python bench/supervised.py --mode overhead    # supervised child vs in-process

`processes`: the tiny preset on tinyshakespeare for `--steps` optimizer steps at the same total
batch (16 sequences of 128 tokens): 1 process x batch 16 against torchrun 2 processes x batch 8
(gloo), one thread per process (two OpenMP threads on a shared 2-core machine spin-wait for
each other: measured 10-20x slower), alternated `--rounds` times in one invocation,
reporting each figure and the ratio of medians. Only training steps count (the rate of the
"done" line: no start-up, no evaluation).

`overhead`: the tiny preset for `--seconds` (180) of wall clock twice AT THE SAME TIME, one
thread each: `lmcore.train.train` called in this process (the old in-worker loop) and
`python -m lmcore train --config` as a child read line by line through workers/child.py (what
the gpu_train worker does now). Both share the machine's cores equally, so the ratio of their
step counts is the supervised child's cost: target <= 3% of the steps lost.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / "shared" / "data" / "tinyshakespeare.txt"
sys.path.insert(0, str(REPO))

from lmcore.presets import PRESETS  # noqa: E402


def log(*parts: object) -> None:
    print(*parts, file=sys.stderr, flush=True)


def prepare(workdir: Path, data: Path) -> Path:
    """Tokenizer + encoded corpus, shared by every run (not timed), the validation tail held
    out of both (lmcore/preparation.py)."""
    from lmcore.preparation import prepare_text

    tokenizer, _ = prepare_text([data], PRESETS["tiny"].vocab_size, workdir / "data")
    tokenizer.save(workdir / "tok")
    return workdir / "tok"


def run_file(workdir: Path, name: str, train: dict) -> Path:
    spec = {"out": str(workdir / name), "tokenizer": str(workdir / "tok"), "preset": "tiny",
            "data": {"dir": str(workdir / "data")}, "train": {"device": "cpu", **train}}  # fmt: skip
    path = workdir / f"{name}.json"
    path.write_text(json.dumps(spec))
    return path


def _done(command: list[str], env: dict[str, str]) -> dict:
    out = subprocess.run(command, capture_output=True, text=True, env=env, check=True).stdout
    return [json.loads(line) for line in out.splitlines() if line.startswith("{")][-1]


def mode_processes(args: argparse.Namespace, workdir: Path) -> dict:
    train = {"max_steps": args.steps, "eval_every": 10**6, "eval_tokens": 128}
    cores = os.cpu_count() or 1
    one, two = [], []
    for i in range(args.rounds):
        single = run_file(workdir, f"one-{i}", {**train, "batch_size": 16})
        env = {**os.environ, "OMP_NUM_THREADS": "1"}
        one.append(_done([sys.executable, "-m", "lmcore", "train", "--config", str(single)], env))
        pair = run_file(workdir, f"two-{i}", {**train, "batch_size": 8})
        env = {**os.environ, "OMP_NUM_THREADS": "1"}
        two.append(_done([sys.executable, "-m", "torch.distributed.run", "--standalone",
                          "--nproc-per-node=2", "-m", "lmcore", "train", "--config", str(pair)],
                         env))  # fmt: skip
        log(f"round {i}: 1 process {one[-1]['tokens_per_s']} tok/s, "
            f"2 processes {two[-1]['tokens_per_s']} tok/s")  # fmt: skip
    rate = lambda done: statistics.median(d["tokens_per_s"] for d in done)  # noqa: E731
    return {"mode": "processes", "steps": args.steps, "tokens_per_step": 16 * 128,
            "one_process_tokens_per_s": [d["tokens_per_s"] for d in one],
            "two_processes_tokens_per_s": [d["tokens_per_s"] for d in two],
            "ratio_two_over_one": round(rate(two) / rate(one), 3), "cpus": cores,
            "threads_per_process": 1}  # fmt: skip


def mode_overhead(args: argparse.Namespace, workdir: Path) -> dict:
    import torch

    from lmcore.data import load_encoded
    from lmcore.presets import configs_from_preset
    from lmcore.tokenizer import Tokenizer
    from lmcore.train import train
    from workers.child import Child, lmcore_command

    tokenizer = Tokenizer.load(workdir / "tok")
    corpus = load_encoded(workdir / "data")
    model_config, train_config = configs_from_preset(
        "tiny", tokenizer.vocab_size, max_seconds=args.seconds, device="cpu"
    )
    child_file = run_file(workdir, "child", {"max_seconds": args.seconds})
    results: dict[str, dict] = {}

    def in_process() -> None:
        torch.set_num_threads(1)
        result = train(model_config, train_config, corpus, tokenizer, workdir / "inproc")
        results["in_process"] = {"steps": result.step, "tokens_per_s": result.tokens_per_s,
                                 "val_bpb": round(result.val_bpb, 4)}  # fmt: skip

    def supervised() -> None:
        child = Child(lmcore_command(child_file, 1), cwd=REPO, env={"OMP_NUM_THREADS": "1"})
        events = list(child.events())
        code = child.wait()
        done = events[-1]
        results["supervised"] = {"steps": done["step"], "tokens_per_s": done["tokens_per_s"],
                                 "val_bpb": round(done["val_bpb"], 4), "exit": code,
                                 "events": len(events)}  # fmt: skip

    load_before = os.getloadavg()
    started = time.perf_counter()
    threads = [threading.Thread(target=f) for f in (in_process, supervised)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    lost = 1 - results["supervised"]["steps"] / results["in_process"]["steps"]
    return {"mode": "overhead", "seconds": args.seconds, **results,
            "steps_lost_fraction": round(lost, 4), "target": 0.03,
            "wall_seconds": round(time.perf_counter() - started, 1), "cpus": os.cpu_count(),
            "load_before": [round(x, 2) for x in load_before],
            "load_after": [round(x, 2) for x in os.getloadavg()]}  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mode", choices=["processes", "overhead"], required=True)
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--steps", type=int, default=60, help="processes: steps per run")
    parser.add_argument("--rounds", type=int, default=3, help="processes: alternations")
    parser.add_argument("--seconds", type=float, default=180.0, help="overhead: budget")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-supervised-") as tmp:
        workdir = Path(tmp)
        prepare(workdir, args.data)
        report = (mode_processes if args.mode == "processes" else mode_overhead)(args, workdir)
    print(json.dumps(report))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
