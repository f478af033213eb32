"""Anatomy benchmark: the size and compute time of the anatomy page's answers. Prints one JSON
object; progress lines go to stderr.

    .venv/bin/python bench/anatomy.py [--device cpu|cuda|auto] [--tokens 256] [--repeats 5]
        [--threads N] [--preset small]

Model: the preset's shape (`small`: 6 layers x 6 heads x 384 wide, context 256, its 2,048-token
vocabulary) with random weights, which cost what trained ones do. Token texts come from a
made-up vocabulary of 1-6 letter pieces (BPE tokens of English average about 4 bytes), so the
JSON is as long as a real one. The prompt fills `--tokens` positions.

Measured, as the worker does it (lmcore + json.dumps, no web round trip):
- `first_view`: `anatomy_of_text`-equivalent for the whole prompt with the focus on the last
  token, plus serialisation; `cold` includes the once-per-version embedding PCA, `warm` is
  the median of `--repeats` runs with the PCA cached (the usual case: the version's first
  prompt pays it once).
- `focus`: a selection change (one forward pass, one position's rows), median.
Bytes are of the UTF-8 JSON the view returns. Each time is given as wall seconds and as this
process's CPU seconds: with `--threads 1` the CPU time is what the wall time would be on an
idle core, a fairer figure on a shared machine, where wall times are upper bounds.
`--threads` sets torch's intra-op threads (the worker's `BOTTEGA_INFER_TORCH_THREADS`).
"""

from __future__ import annotations

import argparse
import json
import platform
import random
import statistics
import sys
import time
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from lmcore import embedding_map  # noqa: E402
from lmcore.anatomy import anatomy, focus, record  # noqa: E402
from lmcore.device import configure, resolve_device  # noqa: E402
from lmcore.model import GPT, GPTConfig  # noqa: E402
from lmcore.presets import PRESETS  # noqa: E402


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def vocabulary(size: int, seed: int = 0) -> list[bytes]:
    rng = random.Random(seed)
    letters = "abcdefghijklmnopqrstuvwxyz "
    return [bytes([i]) if i < 256 else
            "".join(rng.choice(letters) for _ in range(rng.randint(1, 6))).encode()
            for i in range(size)]  # fmt: skip


def timed(fn):
    """(result, wall seconds, CPU seconds of this process)."""
    start, cpu = time.perf_counter(), time.process_time()
    out = fn()
    return out, time.perf_counter() - start, time.process_time() - cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--preset", default="small")
    parser.add_argument("--tokens", type=int, default=256)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: default)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = resolve_device(args.device)
    configure(device)
    preset = PRESETS[args.preset]
    torch.manual_seed(0)
    config = GPTConfig(vocab_size=preset.vocab_size, **{**preset.model, "dropout": 0.0})
    model = GPT(config).to(device).eval()
    table = vocabulary(config.vocab_size)
    ids = [(31 * i + 7) % config.vocab_size for i in range(min(args.tokens, config.context))]

    def first_view() -> int:
        return len(json.dumps(anatomy(model, table, ids), ensure_ascii=False).encode())

    def one_focus() -> int:
        middle = len(ids) // 2  # as focus_of_text: the forward pass stops at the position
        data = focus(record(model, ids[: middle + 1]), middle, table)
        return len(json.dumps(data, ensure_ascii=False).encode())

    log(f"{args.preset} on {device}, {len(ids)} tokens, {torch.get_num_threads()} threads")
    embedding_map._cache.clear()
    size, cold, cold_cpu = timed(first_view)
    warm = [timed(first_view)[1:] for _ in range(args.repeats)]
    focus_size = one_focus()
    focus_times = [timed(one_focus)[1:] for _ in range(args.repeats)]
    print(json.dumps({
        "preset": args.preset, "device": str(device), "tokens": len(ids),
        "params": model.num_params(), "threads": torch.get_num_threads(),
        "cpu": platform.processor() or platform.machine(),
        "first_view": {"bytes": size, "cold_s": round(cold, 3), "cold_cpu_s": round(cold_cpu, 3),
                       "warm_s": _median(warm, 0), "warm_cpu_s": _median(warm, 1),
                       "warm_runs_s": [round(t, 3) for t, _ in warm]},
        "focus": {"bytes": focus_size, "median_s": _median(focus_times, 0),
                  "median_cpu_s": _median(focus_times, 1)},
    }, indent=1))  # fmt: skip


def _median(pairs: list[tuple[float, float]], index: int) -> float:
    return round(statistics.median(p[index] for p in pairs), 3)


if __name__ == "__main__":
    main()
