"""Threads benchmark: does training keep its speed beside a busy playground?

    .venv/bin/python bench/threads.py [--seconds 60] [--streams 8] [--data FILE]

Four phases, side by side in one run, each a real `python -m lmcore train --preset tiny`
child for `--seconds` on the CPU (the user's path: `lmcore tokenizer train` holds the
validation tail out, and the corpus is encoded once before the phases):

- before, alone: torch's default threads (OMP_NUM_THREADS unset: one per core);
- before, beside the playground: the same, while another process decodes `--streams`
  generations at once, also with torch's default threads (the inference worker's
  BOTTEGA_INFER_TORCH_THREADS unset, as before `make run` split the cores);
- after, alone, and after, beside the playground: training with `--threads T` and the
  playground process with I threads, (I, T) = what `make run` sets on this machine
  (webapp/launcher.split_cores: half the usable cores each, at least 1).

The playground load is the `gpu_infer` worker's decode loop without Celery: lmcore's
continuous-batching Scheduler over a tiny-preset-shaped model (random weights cost what
trained ones do), with the worker's batch slots and prefill chunk, each stream asking for
the playground's default and cap (PLAYGROUND_MAX_NEW_TOKENS tokens); a stream that ends is
replaced at once, so `--streams` stay busy until training ends.

Training's figure is its "done" line's tokens/s (steps only: evaluations are left out).
`kept` = tokens/s beside the playground / tokens/s alone, in the same configuration.
Target: after, kept >= 50% with 8 streams (docs/benchmarks.md, "Threads"). The load average
is printed before and after: on a machine that other work keeps busy, read the ratios.
Prints a table on stderr and one JSON object on stdout.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / "shared" / "data" / "tinyshakespeare.txt"
sys.path.insert(0, str(REPO))

MAX_NEW_TOKENS = 1024  # webapp/settings.py PLAYGROUND_MAX_NEW_TOKENS: the form's default and cap
MAX_BATCH, PREFILL_CHUNK = 32, 256  # PLAYGROUND_MAX_BATCH, PLAYGROUND_PREFILL_CHUNK
PROMPT = "ROMEO:\nWhat light through yonder window breaks? "


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seconds", type=float, default=60.0, help="training time per phase")
    p.add_argument("--streams", type=int, default=8, help="concurrent playground generations")
    p.add_argument("--data", type=Path, default=DATA)
    p.add_argument("--workdir", type=Path, help="keep the files here (default: a temp dir)")
    p.add_argument("--load", action="store_true", help=argparse.SUPPRESS)  # the load process
    p.add_argument("--threads", type=int, default=0, help=argparse.SUPPRESS)
    p.add_argument("--tokenizer", type=Path, help=argparse.SUPPRESS)
    return p.parse_args()


def lmcore(*args: str, env: dict[str, str] | None = None) -> list[dict]:
    done = subprocess.run([sys.executable, "-m", "lmcore", *args], cwd=REPO, env=env,
                          capture_output=True, text=True)  # fmt: skip
    if done.returncode != 0:
        raise SystemExit(f"lmcore {args[0]} failed:\n{done.stderr[-3000:]}")
    return [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]


def prepare(workdir: Path, data: Path) -> tuple[Path, Path]:
    """The tokenizer (validation tail held out) and the encoded corpus, as a user makes them."""
    from lmcore.presets import PRESETS

    tokenizer, encoded = workdir / "tok", workdir / "data"
    lmcore("tokenizer", "train", "--input", str(data), "--out", str(tokenizer),
           "--vocab-size", str(PRESETS["tiny"].vocab_size))  # fmt: skip
    lmcore("train", "--preset", "tiny", "--tokenizer", str(tokenizer), "--input", str(data),
           "--data-dir", str(encoded), "--out", str(workdir / "prepared"), "--prepare-only")  # fmt: skip
    return tokenizer, encoded


def clean_env() -> dict[str, str]:
    """This environment without thread settings: each phase sets its own."""
    drop = {"OMP_NUM_THREADS", "MKL_NUM_THREADS", "BOTTEGA_INFER_TORCH_THREADS"}
    return {k: v for k, v in os.environ.items() if k not in drop}


def start_load(tokenizer: Path, streams: int, threads: int) -> subprocess.Popen:
    """The playground process; returns once it decodes (its first line)."""
    command = [sys.executable, __file__, "--load", "--tokenizer", str(tokenizer),
               "--streams", str(streams), "--threads", str(threads)]  # fmt: skip
    load = subprocess.Popen(command, cwd=REPO, env=clean_env(), stdout=subprocess.PIPE, text=True)
    ready = json.loads(load.stdout.readline())
    assert ready["event"] == "decoding", ready
    return load


def stop_load(load: subprocess.Popen) -> dict:
    load.send_signal(signal.SIGTERM)
    report = json.loads(load.stdout.readline())
    load.wait(30)
    return report


def train_phase(workdir: Path, tokenizer: Path, encoded: Path, name: str, seconds: float,
                threads: int) -> dict:  # fmt: skip
    """One training child; its "start" and "done" lines. threads 0: torch's default."""
    flags = ["--threads", str(threads)] if threads else []
    events = lmcore("train", "--preset", "tiny", "--tokenizer", str(tokenizer),
                    "--data-dir", str(encoded), "--out", str(workdir / name), "--device", "cpu",
                    "--max-seconds", str(seconds), "--seed", "1", *flags, env=clean_env())  # fmt: skip
    start = next(e for e in events if e["event"] == "start")
    done = next(e for e in events if e["event"] == "done")
    return {"threads": start.get("threads"), "steps": done["step"],
            "tokens_per_s": done["tokens_per_s"]}  # fmt: skip


def run(args: argparse.Namespace) -> dict:
    from lmcore.threads import usable_cores
    from webapp.devstack.launcher import split_cores

    cores = usable_cores()
    infer, train = split_cores(cores)
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="bench-threads-") as tmp:
        workdir = args.workdir or Path(tmp)
        workdir.mkdir(parents=True, exist_ok=True)
        tokenizer, encoded = prepare(workdir, args.data)
        rows = {}
        for label, train_threads, infer_threads in (("before", 0, 0), ("after", train, infer)):
            log(f"{label}: training alone for {args.seconds:g} s ...")
            alone = train_phase(workdir, tokenizer, encoded, f"{label}-alone", args.seconds,
                                train_threads)  # fmt: skip
            log(f"{label}: training beside {args.streams} playground streams ...")
            load = start_load(tokenizer, args.streams, infer_threads)
            try:
                busy = train_phase(workdir, tokenizer, encoded, f"{label}-busy", args.seconds,
                                   train_threads)  # fmt: skip
            finally:
                playground = stop_load(load)
            rows[label] = {"alone": alone, "beside_playground": busy, "playground": playground,
                           "kept": round(busy["tokens_per_s"] / alone["tokens_per_s"], 3)}  # fmt: skip
    return {"cores": cores, "streams": args.streams, "seconds": args.seconds,
            "split": {"inference": infer, "training": train}, **rows, "target_kept": 0.5,
            "load_before": [round(x, 2) for x in load_before],
            "load_after": [round(x, 2) for x in os.getloadavg()]}  # fmt: skip


def table(result: dict) -> str:
    head = (f"tiny preset, {result['seconds']:g} s per phase, {result['streams']} streams, "
            f"{result['cores']} usable cores; load {result['load_before']} -> "
            f"{result['load_after']}")  # fmt: skip
    lines = [head, f"{'threads':<28}{'alone tok/s':>12}{'busy tok/s':>12}{'kept':>7}"
                   f"{'steps':>13}{'streams tok/s':>15}"]  # fmt: skip
    for label in ("before", "after"):
        row = result[label]
        alone, busy, play = row["alone"], row["beside_playground"], row["playground"]
        threads = f"{label}: train {alone['threads']}, infer {play['threads']}"
        lines.append(f"{threads:<28}{alone['tokens_per_s']:>12,.0f}{busy['tokens_per_s']:>12,.0f}"
                     f"{row['kept']:>7.0%}{alone['steps']:>6}/{busy['steps']:<6}"
                     f"{play['tokens_per_s']:>15,.0f}")  # fmt: skip
    return "\n".join(lines)


def serve_load(args: argparse.Namespace) -> None:
    """The playground's decode loop until SIGTERM: `--streams` generations kept in flight."""
    import torch

    from lmcore.model import GPT, GPTConfig
    from lmcore.presets import PRESETS
    from lmcore.sampling import SamplingParams
    from lmcore.scheduler import Scheduler, SchedulerConfig
    from lmcore.tokenizer import Tokenizer

    if args.threads:
        torch.set_num_threads(args.threads)
    tokenizer = Tokenizer.load(args.tokenizer)
    torch.manual_seed(0)
    model = GPT(GPTConfig(vocab_size=tokenizer.vocab_size, **PRESETS["tiny"].model, dropout=0.0))
    scheduler = Scheduler(model, tokenizer.bytes_table(), SchedulerConfig(MAX_BATCH, PREFILL_CHUNK),
                          max_new_tokens_cap=MAX_NEW_TOKENS)  # fmt: skip
    prompt = tokenizer.encode(PROMPT)
    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    for i in range(args.streams):
        scheduler.submit(prompt, SamplingParams(max_new_tokens=MAX_NEW_TOKENS, seed=i))
    print(json.dumps({"event": "decoding"}), flush=True)
    tokens, started, seed = 0, time.perf_counter(), args.streams
    while not stop:
        for _, event in scheduler.step():
            if event["event"] == "token":
                tokens += 1
            elif event["event"] == "done":
                scheduler.submit(prompt, SamplingParams(max_new_tokens=MAX_NEW_TOKENS, seed=seed))
                seed += 1
    seconds = time.perf_counter() - started
    print(json.dumps({"threads": torch.get_num_threads(), "tokens": tokens,
                      "tokens_per_s": round(tokens / seconds, 1)}), flush=True)  # fmt: skip


def main() -> None:
    args = parse_args()
    if args.load:
        serve_load(args)
        return
    result = run(args)
    log(table(result))
    print(json.dumps(result))


if __name__ == "__main__":
    main()
