"""Bottega's engine against `transformers`' `generate` on the real SmolLM2-135M-Instruct.

    .venv/bin/python bench/vs_transformers.py [--threads 1] [--new-tokens 128]
        [--streams 1 8 32] [--rounds 1] [--bf16]

The model is tests/smollm2.py's `hf_dir()` (fp32 `transformers` directory), imported into
lmcore with `lmcore.hf_import.import_hf` as the product does. Both sides decode greedily,
`--new-tokens` tokens per stream with no end token (decoding goes on past `<|im_end|>`, so every
stream costs the same), from chat prompts rendered with the model's template (`N` different
questions for N streams, so their lengths differ):

- Bottega: N requests submitted at once to `lmcore.scheduler.Scheduler` (the worker's
  continuous batching: the same `step()` loop, `max_batch` = N), stepped until idle;
- transformers: one `generate` over the N prompts, left-padded, with its `generation_config`'s
  pad id and `eos_token_id=None`.

Each (side, N) runs in a fresh child process with `--threads` intra-op threads on both sides
(torch.set_num_threads and OMP_NUM_THREADS), after a short warm-up generate. Per run:
`tokens_per_s` = all generated tokens / wall time of the whole run (prefill included),
`ttft_ms` = median over streams of submit -> first token, `peak_rss_mb` = the child's
`ru_maxrss` (model, caches, allocator high-water mark). The parent checks that every stream's
tokens are equal between the two sides and prints one JSON object (progress on stderr). On a
busy machine, `--rounds R` alternates the sides R times and keeps each side's fastest run, so
that a burst of load during one side's run does not decide the ratio. `--bf16` adds a third
side, Bottega with its weights (and so its KV cache) in bfloat16, with how many streams still
equal transformers' fp32 tokens: what a precision trade would buy, not what the product runs.
The figures sit in docs/benchmarks.md, "Bottega vs transformers".
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

QUESTIONS = [
    "What is the capital of France?",
    "How many legs does a spider have?",
    "What is the chemical symbol for gold?",
    "Write a short poem about the sea.",
    "Explain photosynthesis in simple words.",
    "Give me three tips for learning a new language.",
    "Why is the sky blue?",
    "What is the difference between a virus and a bacterium?",
]


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def prompts(source: Path, n: int) -> list[list[int]]:
    """n chat prompts: the questions in turn, the k-th round asking to answer in k words fewer."""
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(source)
    out = []
    for i in range(n):
        question = QUESTIONS[i % len(QUESTIONS)]
        if i >= len(QUESTIONS):
            question += f" Answer in at most {100 - i} words."
        ids = tok.apply_chat_template([{"role": "user", "content": question}],
                                      add_generation_prompt=True, tokenize=True,
                                      return_dict=False)  # fmt: skip
        out.append(list(ids))
    return out


def run_transformers(source: Path, batch: list[list[int]], new_tokens: int) -> dict:
    import torch
    from transformers import AutoModelForCausalLM
    from transformers.generation.streamers import BaseStreamer

    model = AutoModelForCausalLM.from_pretrained(source, dtype=torch.float32).eval()
    pad = model.generation_config.pad_token_id or 0

    class FirstToken(BaseStreamer):
        def __init__(self) -> None:
            self.calls, self.first_at = 0, None

        def put(self, value) -> None:  # first call: the prompt; second: the first new token
            self.calls += 1
            if self.calls == 2:
                self.first_at = time.perf_counter()

        def end(self) -> None:
            pass

    def generate(prompts: list[list[int]], n: int, streamer=None):
        width = max(len(p) for p in prompts)
        ids = torch.tensor([[pad] * (width - len(p)) + p for p in prompts])  # left padding
        mask = torch.tensor([[0] * (width - len(p)) + [1] * len(p) for p in prompts])
        with torch.inference_mode():
            out = model.generate(input_ids=ids, attention_mask=mask, max_new_tokens=n,
                                 min_new_tokens=n, do_sample=False, eos_token_id=None,
                                 pad_token_id=pad, streamer=streamer)  # fmt: skip
        return out[:, width:].tolist()

    generate(batch[:1], 4)  # warm-up
    streamer = FirstToken()
    start = time.perf_counter()
    tokens = generate(batch, new_tokens, streamer)
    wall = time.perf_counter() - start
    ttft = [(streamer.first_at - start) * 1000] * len(batch)  # one forward serves them all
    return {"tokens": tokens, "wall_s": wall, "ttft_ms": ttft}


def run_bottega(checkpoint: Path, batch: list[list[int]], new_tokens: int, bf16: bool) -> dict:
    import torch

    from lmcore.checkpoint import load_checkpoint
    from lmcore.sampling import SamplingParams
    from lmcore.scheduler import Scheduler, SchedulerConfig

    ck = load_checkpoint(checkpoint, "cpu")
    if bf16:
        ck.model.to(torch.bfloat16)
    table = ck.tokenizer.bytes_table()

    def generate(prompts: list[list[int]], n: int) -> tuple[list[list[int]], list[float]]:
        scheduler = Scheduler(ck.model, table, SchedulerConfig(max_batch=len(prompts)))
        params = SamplingParams(temperature=0.0, max_new_tokens=n)
        ids = [scheduler.submit(p, params, stream=i) for i, p in enumerate(prompts)]
        tokens: dict[int, list[int]] = {i: [] for i in ids}
        ttft: dict[int, float] = {}
        while not scheduler.idle:
            for request_id, event in scheduler.step():
                if event["event"] == "token":
                    tokens[request_id].append(event["id"])
                elif event["event"] == "done":
                    ttft[request_id] = event["ttft_ms"]
        return [tokens[i] for i in ids], [ttft[i] for i in ids]

    generate(batch[:1], 4)  # warm-up
    start = time.perf_counter()
    tokens, ttft = generate(batch, new_tokens)
    return {"tokens": tokens, "wall_s": time.perf_counter() - start, "ttft_ms": ttft}


def child(args: argparse.Namespace) -> None:
    import torch

    torch.set_num_threads(args.threads)
    batch = json.loads(Path(args.prompts).read_text())
    if args.child == "transformers":
        result = run_transformers(Path(args.source), batch, args.new_tokens)
    else:
        bf16 = args.child == "bottega-bf16"
        result = run_bottega(Path(args.checkpoint), batch, args.new_tokens, bf16)
    result["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps(result))


def spawn(args: argparse.Namespace, side: str, prompts_file: Path, checkpoint: Path) -> dict:
    cmd = [sys.executable, __file__, "--child", side, "--threads", str(args.threads),
           "--new-tokens", str(args.new_tokens), "--prompts", str(prompts_file),
           "--source", str(args.source), "--checkpoint", str(checkpoint)]  # fmt: skip
    env = {**os.environ, "OMP_NUM_THREADS": str(args.threads), "PYTHONPATH": str(REPO)}
    done = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
    if done.returncode != 0:
        raise SystemExit(f"{side} child failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.splitlines()[-1])


def summary(run: dict) -> dict:
    generated = sum(len(t) for t in run["tokens"])
    return {
        "tokens_per_s": round(generated / run["wall_s"], 2),
        "wall_s": round(run["wall_s"], 2),
        "ttft_ms_median": round(statistics.median(run["ttft_ms"]), 1),
        "peak_rss_mb": round(run["peak_rss_mb"], 1),
    }


def compare(args: argparse.Namespace, checkpoint: Path, tmp: Path) -> dict:
    rows = []
    for n in args.streams:
        batch = prompts(args.source, n)
        prompts_file = tmp / f"prompts-{n}.json"
        prompts_file.write_text(json.dumps(batch))
        runs: dict[str, dict] = {}
        for r in range(args.rounds):  # sides alternate; each keeps its fastest round
            for side in ("transformers", "bottega", *(["bottega-bf16"] if args.bf16 else [])):
                log(f"{n} stream(s), round {r + 1}: {side} ...")
                run = spawn(args, side, prompts_file, checkpoint)
                if side not in runs or run["wall_s"] < runs[side]["wall_s"]:
                    runs[side] = run
        hf, ours = runs["transformers"], runs["bottega"]
        equal = [a == b for a, b in zip(hf["tokens"], ours["tokens"], strict=True)]
        first_diff = [next((i for i, (x, y) in enumerate(zip(a, b, strict=True)) if x != y), None)
                      for a, b in zip(hf["tokens"], ours["tokens"], strict=True)]  # fmt: skip
        row = {"streams": n, "transformers": summary(hf), "bottega": summary(ours),
               "equal_streams": f"{sum(equal)}/{n}",
               "first_differing_token": [d for d in first_diff if d is not None]}  # fmt: skip
        row["speedup"] = round(
            row["bottega"]["tokens_per_s"] / row["transformers"]["tokens_per_s"], 2
        )
        if args.bf16:
            low = runs["bottega-bf16"]
            row["bottega_bf16"] = summary(low)
            row["bf16_speedup"] = round(
                row["bottega_bf16"]["tokens_per_s"] / row["transformers"]["tokens_per_s"], 2
            )
            same = [a == b for a, b in zip(hf["tokens"], low["tokens"], strict=True)]
            row["bf16_equal_streams"] = f"{sum(same)}/{n}"
        log(json.dumps(row))
        rows.append(row)
    return {"threads": args.threads, "new_tokens": args.new_tokens, "rounds": args.rounds,
            "load": os.getloadavg(), "runs": rows}  # fmt: skip


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--new-tokens", type=int, default=128)
    p.add_argument("--streams", type=int, nargs="+", default=[1, 8, 32])
    p.add_argument("--rounds", type=int, default=1,
                   help="run the sides alternately this many times; each keeps its fastest")  # fmt: skip
    p.add_argument("--bf16", action="store_true",
                   help="also Bottega with bf16 weights (not the product's default)")  # fmt: skip
    p.add_argument("--child", choices=["transformers", "bottega", "bottega-bf16"],
                   help=argparse.SUPPRESS)  # fmt: skip
    p.add_argument("--prompts", help=argparse.SUPPRESS)
    p.add_argument("--source", type=Path, help=argparse.SUPPRESS)
    p.add_argument("--checkpoint", type=Path, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child:
        return child(args)
    from lmcore.hf_import import import_hf
    from tests.smollm2 import hf_dir

    args.source = hf_dir()
    with tempfile.TemporaryDirectory() as tmp:
        checkpoint = Path(tmp) / "smollm2"
        log(f"importing {args.source} into lmcore")
        import_hf(args.source, checkpoint)
        print(json.dumps({"uptime_before": os.getloadavg(), **compare(args, checkpoint,
                                                                      Path(tmp))}))  # fmt: skip


if __name__ == "__main__":
    main()
