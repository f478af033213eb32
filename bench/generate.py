"""Generation benchmark: KV-cache decoding vs naive full recompute, time to first token, and
batched throughput. Prints one JSON object; progress lines go to stderr.

    .venv/bin/python bench/generate.py [--device auto|cpu|cuda] [--new-tokens 1000]
        [--context 1024] [--streams 1 8 32] [--stream-tokens 256] [--skip-naive]

Model: the `small` preset's architecture (6 layers x 6 heads x 384 wide, ~11M parameters with
its recommended 2,048-token vocabulary) with random weights, but a context of 1,024 instead
of small's 256. Random weights cost exactly what trained ones do, and the context is the
point: with 256, a 1,000-token generation would slide its window every 128 tokens and the
naive baseline would never see more than 256 tokens, so the comparison would measure the
window policy rather than the cache. With 1,024 both decode the same 1,016-token sequence
with no slide, and the naive reference pays a forward over the whole sequence for every
token (nanoGPT's `generate`), which is what the target (>= 10x; docs/benchmarks.md, "Targets") is about.

Both runs share the sampler (temperature 1, seed 0) and the prompt, so `same_tokens` checks
that they produced the same text. Each figure is one timed run after a short warm-up: on a
shared machine, read the ratios (measured side by side) rather than the absolute numbers.
On a CPU that other processes keep busy, pass `--threads` at most the idle cores: more
intra-op threads than free cores make every small op wait at an OpenMP barrier for a
descheduled thread, which slows one-token decoding (~100 small ops) by 10-30x.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from lmcore.device import configure, resolve_device  # noqa: E402
from lmcore.engine import Engine, Request, reference_generate  # noqa: E402
from lmcore.model import GPT, GPTConfig  # noqa: E402
from lmcore.presets import PRESETS  # noqa: E402
from lmcore.sampling import SamplingParams  # noqa: E402


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def build_model(args: argparse.Namespace, device: torch.device) -> GPT:
    preset = PRESETS[args.preset]
    shape = {**preset.model, "context": args.context, "dropout": 0.0}
    torch.manual_seed(args.seed)
    return GPT(GPTConfig(vocab_size=preset.vocab_size, **shape)).to(device).eval()


def prompt_of(n: int, vocab_size: int) -> list[int]:
    return [(31 * i + 7) % vocab_size for i in range(n)]


def timed_generation(engine: Engine, requests: list[Request]) -> tuple[float, list[dict]]:
    """Wall seconds for a whole (batched) generation, and its done events."""
    started = time.perf_counter()
    events = list(engine.generate_batch(requests))
    seconds = time.perf_counter() - started
    return seconds, [e for e in events if e["event"] == "done"]


def kv_vs_naive(engine: Engine, model: GPT, args: argparse.Namespace) -> dict:
    params = SamplingParams(max_new_tokens=args.new_tokens, temperature=1.0, seed=0)
    prompt = prompt_of(args.prompt_tokens, model.config.vocab_size)
    log(f"kv cache: {args.new_tokens} tokens")
    started = time.perf_counter()
    events = list(engine.generate(prompt, params))
    kv_s = time.perf_counter() - started
    kv_ids = [e["id"] for e in events if e["event"] == "token"]
    done = events[-1]
    out = {"new_tokens": args.new_tokens, "prompt_tokens": args.prompt_tokens,
           "kv_seconds": round(kv_s, 3), "kv_tokens_per_s": round(len(kv_ids) / kv_s, 1),
           "kv_decode_tokens_per_s": round(done["tokens_per_s"], 1),
           "kv_ttft_ms": round(done["ttft_ms"], 2)}  # fmt: skip
    if args.skip_naive:
        return out
    log(f"naive full recompute: {args.new_tokens} tokens (slow)")
    started = time.perf_counter()
    naive = reference_generate(model, prompt, params, keep=engine.keep)
    naive_s = time.perf_counter() - started
    out.update(naive_seconds=round(naive_s, 3),
               naive_tokens_per_s=round(len(naive) / naive_s, 2),
               speedup=round(naive_s / kv_s, 1),
               same_tokens=[r.id for r in naive] == kv_ids)  # fmt: skip
    return out


def ttft(engine: Engine, lengths: list[int], vocab_size: int) -> dict:
    """Median of 3 times to the first token (prefill + one sampling step) per prompt length."""
    out = {}
    for n in lengths:
        params = SamplingParams(max_new_tokens=1, seed=0)
        times = [timed_generation(engine, [Request(prompt_of(n, vocab_size), params)])[1][0]
                 for _ in range(3)]  # fmt: skip
        out[str(n)] = round(statistics.median(d["ttft_ms"] for d in times), 2)
    return out


def batched(engine: Engine, args: argparse.Namespace, vocab_size: int) -> list[dict]:
    """B streams, one prompt, B seeds, decoded together; aggregate and per-stream tokens/s."""
    rows = []
    for B in args.streams:
        log(f"batched: {B} streams x {args.stream_tokens} tokens")
        requests = [Request(prompt_of(args.prompt_tokens, vocab_size),
                            SamplingParams(max_new_tokens=args.stream_tokens, seed=i))
                    for i in range(B)]  # fmt: skip
        seconds, dones = timed_generation(engine, requests)
        tokens = sum(d["tokens"] for d in dones)
        rows.append({"streams": B, "tokens": tokens, "seconds": round(seconds, 3),
                     "tokens_per_s": round(tokens / seconds, 1),
                     "per_stream_tokens_per_s": round(tokens / seconds / B, 1),
                     "ttft_ms": round(statistics.median(d["ttft_ms"] for d in dones), 2)})  # fmt: skip
    return rows


def machine(device: torch.device) -> dict:
    uptime = (subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
              if shutil.which("uptime") else None)  # fmt: skip
    info = {"device": str(device), "torch": torch.__version__, "threads": torch.get_num_threads(),
            "cpus": os.cpu_count(), "cpu": platform.processor() or platform.machine(),
            "uptime": uptime, "loadavg": [round(x, 2) for x in os.getloadavg()]}  # fmt: skip
    if device.type == "cuda":
        info["gpu"] = torch.cuda.get_device_name(device)
    return info


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    parser.add_argument("--preset", default="small", choices=sorted(PRESETS))
    parser.add_argument("--context", type=int, default=1024)
    parser.add_argument("--new-tokens", type=int, default=1000)
    parser.add_argument("--prompt-tokens", type=int, default=16)
    parser.add_argument("--ttft-prompts", type=int, nargs="+", default=[16, 256, 1000])
    parser.add_argument("--streams", type=int, nargs="+", default=[1, 8, 32])
    parser.add_argument("--stream-tokens", type=int, default=256)
    parser.add_argument("--skip-naive", action="store_true", help="KV-cache figures only")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, help="torch intra-op threads (default: torch's)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    device = resolve_device(args.device)
    configure(device)
    model = build_model(args, device)
    engine = Engine(model, [bytes([i % 256]) for i in range(model.config.vocab_size)])
    result = {"model": {"preset": args.preset, **model.config.to_dict(),
                        "params": model.num_params()},
              "machine_before": machine(device)}  # fmt: skip
    log("warm-up")
    timed_generation(engine, [Request([1, 2, 3], SamplingParams(max_new_tokens=32, seed=0))])
    reference_generate(model, [1, 2, 3], SamplingParams(max_new_tokens=4, seed=0))
    result["kv_vs_naive"] = kv_vs_naive(engine, model, args)
    result["ttft_ms_by_prompt_tokens"] = ttft(engine, args.ttft_prompts, model.config.vocab_size)
    result["batched"] = batched(engine, args, model.config.vocab_size)
    result["loadavg_after"] = [round(x, 2) for x in os.getloadavg()]
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
