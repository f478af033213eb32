"""Training benchmark: quality reached in a time budget, tokens/s, and MFU on a GPU.

The targets: docs/benchmarks.md, "Targets".

Prints one JSON object; progress goes to stderr.

    .venv/bin/python bench/train.py                      # CPU: tiny preset, 180 s budget
    .venv/bin/python bench/train.py --mode gpu           # GPU: small to bpb < 2.11; base MFU

CPU mode trains the `tiny` preset with its defaults on tinyshakespeare for `--seconds` of
wall clock (periodic evaluation included) and reports the validation bits per byte reached
on the whole held-out 10%. Setup (training the preset's tokenizer and encoding the corpus)
is not counted. The load average is recorded before and after: the development machines
share 2 cores, and a busy neighbour halves tokens/s. Target: val bpb <= 2.30 in 180 s.

GPU mode (one device; a JSON line after each preset, the last one complete): `small` on tinyshakespeare evaluating the whole validation split every
`--eval-every` steps, reporting the first step and seconds at which val bpb < 2.11
(nanoGPT's best char-level figure, 1.465 nats/char), the best bpb, tokens/s and MFU against
the H200's dense bf16 peak (989 TFLOP/s); then `base` for `--base-steps` optimizer steps
(0.5M tokens each) for its tokens/s and MFU. Both use torch.compile unless --no-compile;
compilation happens during the first steps, so rates leave out the first `--skip-steps`.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / "shared" / "data" / "tinyshakespeare.txt"
sys.path.insert(0, str(REPO))

import torch  # noqa: E402

from lmcore.estimate import flops_per_token, model_flops_utilization  # noqa: E402
from lmcore.preparation import prepare_text  # noqa: E402
from lmcore.presets import PRESETS, configs_from_preset  # noqa: E402
from lmcore.train import train  # noqa: E402

TARGET_BPB = 2.11  # nanoGPT shakespeare-char best: 1.465 nats/char / ln 2


def log(*parts: object) -> None:
    print(*parts, file=sys.stderr, flush=True)


def prepare(preset: str, workdir: Path, data: Path, vocab_size: int | None = None):
    """Train the preset's tokenizer and encode the corpus (not part of the timed run), the
    validation tail held out of both, as `lmcore tokenizer train` then `lmcore train` do."""
    started = time.perf_counter()
    vocab = vocab_size or PRESETS[preset].vocab_size
    tokenizer, corpus = prepare_text([data], vocab, workdir / f"data-{preset}", val_fraction=0.1)
    setup = {"vocab_size": tokenizer.vocab_size,
             "bytes_per_token": round(corpus.val_bytes / corpus.val_tokens, 3),
             "setup_seconds": round(time.perf_counter() - started, 1)}  # fmt: skip
    log(f"[{preset}] tokenizer + corpus ready: {setup}")
    return tokenizer, corpus, setup


class Recorder:
    """on_event: keeps every event, logs progress, and times evaluations from the start."""

    def __init__(self, tag: str) -> None:
        self.tag, self.events, self.started = tag, [], time.perf_counter()

    def __call__(self, event: dict) -> None:
        event = {**event, "wall_s": round(time.perf_counter() - self.started, 2)}
        self.events.append(event)
        if event["event"] in ("eval", "done") or (
            event["event"] == "step" and event["step"] % 100 == 0
        ):
            log(f"[{self.tag}] {json.dumps(event)}")

    def of(self, kind: str) -> list[dict]:
        return [e for e in self.events if e["event"] == kind]

    def steady_tokens_per_s(self, skip_steps: int) -> float:
        """Median tokens/s of the step events after the first `skip_steps` (compilation);
        the whole run's rate when there are none."""
        rates = sorted(e["tokens_per_s"] for e in self.of("step") if e["step"] > skip_steps)
        return rates[len(rates) // 2] if rates else self.of("done")[-1]["tokens_per_s"]


def run_cpu(args: argparse.Namespace, workdir: Path) -> dict:
    torch.set_num_threads(args.threads)
    tokenizer, corpus, setup = prepare("tiny", workdir, args.data)
    model_config, train_config = configs_from_preset(
        "tiny", tokenizer.vocab_size, max_seconds=args.seconds, device="cpu"
    )
    load_before = os.getloadavg()
    recorder = Recorder("tiny")
    result = train(model_config, train_config, corpus, tokenizer, workdir / "run-tiny",
                   on_event=recorder)  # fmt: skip
    return {
        "mode": "cpu", "preset": "tiny", **setup, "params": result.params,
        "budget_seconds": args.seconds, "seconds": result.seconds, "steps": result.step,
        "val_bpb": round(result.val_bpb, 4), "val_loss": round(result.val_loss, 4),
        "tokens_per_s": result.tokens_per_s, "target_bpb": 2.30,
        "evals": [(e["step"], e["wall_s"], e["val_bpb"]) for e in recorder.of("eval")],
        "threads": torch.get_num_threads(), "cpus": os.cpu_count(),
        "load_before": [round(x, 2) for x in load_before],
        "load_after": [round(x, 2) for x in os.getloadavg()],
    }  # fmt: skip


def run_gpu_small(args: argparse.Namespace, workdir: Path) -> dict:
    tokenizer, corpus, setup = prepare("small", workdir, args.data)
    model_config, train_config = configs_from_preset(
        "small", tokenizer.vocab_size, max_steps=args.small_steps, eval_every=args.eval_every,
        device=args.device, compile=not args.no_compile, sample_prompts=[],
    )  # fmt: skip
    recorder = Recorder("small")
    result = train(model_config, train_config, corpus, tokenizer, workdir / "run-small",
                   on_event=recorder)  # fmt: skip
    tokens_per_s = recorder.steady_tokens_per_s(_skip(args, 20))
    evals = recorder.of("eval")
    hit = next((e for e in evals if e["val_bpb"] < TARGET_BPB), None)
    tokens_per_step = recorder.of("start")[0]["tokens_per_step"]
    return {
        "preset": "small", **setup, "params": result.params, "steps": result.step,
        "best_val_bpb": min(e["val_bpb"] for e in evals), "final_val_bpb": result.val_bpb,
        "target_bpb": TARGET_BPB, "target_step": hit and hit["step"],
        # Steps to the target at the steady rate: training time without compilation or evals.
        "target_train_seconds": hit and round(hit["step"] * tokens_per_step / tokens_per_s, 2),
        "target_wall_seconds": hit and hit["wall_s"],  # includes compilation and evaluations
        "tokens_per_s": round(tokens_per_s), "mfu": _mfu(model_config, tokens_per_s),
        "wall_seconds": result.seconds,
        "evals": [(e["step"], e["wall_s"], e["val_bpb"]) for e in evals],
    }  # fmt: skip


def run_gpu_base(args: argparse.Namespace, workdir: Path) -> dict:
    tokenizer, corpus, setup = prepare("base", workdir, args.data, args.base_vocab)
    model_config, train_config = configs_from_preset(
        "base", tokenizer.vocab_size, max_steps=args.base_steps, eval_every=10**9,
        eval_tokens=65536, log_every=1, device=args.device, compile=not args.no_compile,
        sample_prompts=[], grad_accum=args.base_grad_accum, batch_size=args.base_batch_size,
    )  # fmt: skip
    recorder = Recorder("base")
    result = train(model_config, train_config, corpus, tokenizer, workdir / "run-base",
                   on_event=recorder)  # fmt: skip
    tokens_per_s = recorder.steady_tokens_per_s(_skip(args, 3))
    return {
        "preset": "base", **setup, "params": result.params, "steps": result.step,
        "tokens_per_step": recorder.of("start")[0]["tokens_per_step"],
        "tokens_per_s": round(tokens_per_s), "mfu": _mfu(model_config, tokens_per_s),
        "flops_per_token": flops_per_token(model_config),
        "peak_memory_gib": round(torch.cuda.max_memory_allocated() / 2**30, 2)
        if torch.cuda.is_available() else None,
    }  # fmt: skip


def _skip(args: argparse.Namespace, default: int) -> int:
    return default if args.skip_steps is None else args.skip_steps


def _mfu(model_config, tokens_per_s: float) -> float:
    return round(model_flops_utilization(model_config, tokens_per_s), 4)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mode", choices=["cpu", "gpu"], default="cpu")
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--seconds", type=float, default=180.0, help="CPU budget")
    parser.add_argument("--threads", type=int, default=os.cpu_count(), help="CPU threads")
    parser.add_argument("--small-steps", type=int, default=2500)
    parser.add_argument("--eval-every", type=int, default=50, help="small preset, GPU")
    parser.add_argument("--base-steps", type=int, default=12)
    parser.add_argument("--base-vocab", type=int, default=None, help="default: the preset's")
    parser.add_argument("--skip-steps", type=int, default=None,
                        help="first steps left out of rates (default: small 20, base 3)")  # fmt: skip
    parser.add_argument("--base-batch-size", type=int, default=None, help="default: preset's")
    parser.add_argument("--base-grad-accum", type=int, default=None, help="default: preset's")
    parser.add_argument("--no-compile", action="store_true")
    parser.add_argument("--device", default="cuda", help="GPU mode's device (cpu: dry run)")
    parser.add_argument("--only", choices=["small", "base"], help="GPU: one preset only")
    args = parser.parse_args()
    report = {"python": platform.python_version(), "torch": torch.__version__}
    with tempfile.TemporaryDirectory(prefix="bench-train-") as tmp:
        workdir = Path(tmp)
        if args.mode == "cpu":
            report.update(run_cpu(args, workdir))
        else:
            name = torch.cuda.get_device_name(0) if args.device == "cuda" else args.device
            report.update(mode="gpu", device=name, results=[])
            for preset, run in (("small", run_gpu_small), ("base", run_gpu_base)):
                if args.only in (None, preset):
                    report["results"].append(run(args, workdir))
                    print(json.dumps(report), flush=True)  # partial results survive a timeout
                    if torch.cuda.is_available():
                        torch.cuda.empty_cache()
    if args.mode == "cpu":
        print(json.dumps(report))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
