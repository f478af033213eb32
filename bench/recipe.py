"""The `tiny` recipe's ablation: each of the preset's choices against its alternatives, in 180 s.

    OMP_NUM_THREADS=1 .venv/bin/python bench/recipe.py --threads 1      # every row, 180 s each
    .venv/bin/python bench/recipe.py --only "tiny (preset),adamw,cosine" --max-seconds 60
    .venv/bin/python bench/recipe.py --steps 1000     # a fixed number of steps each instead
    .venv/bin/python bench/recipe.py --cost           # ms per training step, rows interleaved

The user's path, one split for every figure: each vocabulary's tokenizer and encoded corpus
come from lmcore/preparation.py's `prepare_text` (what `python -m lmcore tokenizer train
--vocab-size N` then `python -m lmcore train` make: the last 10% of tinyshakespeare held out
of both), each row is `lmcore.train.train` with `configs_from_preset("tiny", ...)` and the
row's changes for `--max-seconds` of wall clock (the preset's periodic evaluations, samples
and checkpoints inside the budget), and the reported `val_bpb` is the saved checkpoint scored
by `python -m lmcore eval --val-fraction 0.1`'s own function (`score_files`), so the bench
and the user's command print the same figure. `run_bpb` is the run's final evaluation, for
comparison. Tokenizer training and encoding are not timed. The seed is the user path's
(`--seed 1`, bench/user_path.sh).

Rows (ROWS) are the preset with one change each, grouped by what they test, so every row
reads against `tiny (preset)` measured in the same session; `baseline` is the preset before
the first ablation (AdamW, cosine, vocabulary 2,048), for what the whole recipe buys. Rows run
one after another in one process, never at the same time: run it on a quiet machine and
report the load it prints.

`--steps N` makes a run deterministic and independent of the machine's load (the schedule
follows steps, not the clock): rows then compare at equal steps, and `--cost` tells how many
steps each affords in the same time (each row's step timed in turn, round-robin, so load
changes hit all of them alike). Prints one JSON object, a markdown table on stderr.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
# ../shared/data beside the checkout (a git worktree under /work/wt: two levels up).
DATA = next((p / "shared" / "data" / "tinyshakespeare.txt" for p in REPO.parents
             if (p / "shared" / "data" / "tinyshakespeare.txt").is_file()), None)  # fmt: skip
sys.path.insert(0, str(REPO))

import torch  # noqa: E402

from lmcore.checkpoint import load_checkpoint  # noqa: E402
from lmcore.commands.eval import score_files  # noqa: E402
from lmcore.model import GPT  # noqa: E402
from lmcore.optim import make_optimizer  # noqa: E402
from lmcore.preparation import prepare_text  # noqa: E402
from lmcore.presets import PRESETS, configs_from_preset  # noqa: E402
from lmcore.train import get_batch, train  # noqa: E402

VAL_FRACTION = 0.1  # the user path's: `lmcore eval --val-fraction 0.1`
PRESET = "tiny (preset)"
# name: (group, changes to the preset, what changed). "vocab" is the tokenizer's vocabulary;
# "model" and "train" hold GPTConfig / TrainConfig fields.
ROWS: dict[str, tuple[str, dict, str]] = {
    PRESET: ("", {}, "lmcore/presets.py as it is"),
    "baseline": ("recipe", {"vocab": 2048, "train": dict(optimizer="adamw", lr=2e-3, warmdown=None)},
                 "the preset before the ablation: AdamW lr 2e-3, cosine, vocabulary 2,048"),
    "adamw": ("optimizer", {"train": dict(optimizer="adamw", lr=2e-3)},
              "AdamW (lr 2e-3) on every weight instead of Muon on the blocks' matrices"),
    "cosine": ("schedule", {"train": dict(warmdown=None)},
               "cosine decay instead of peak held then a 40% linear warmdown"),
    "warmdown-0.2": ("schedule", {"train": dict(warmdown=0.2)}, "warmdown over the last 20%"),
    "warmdown-0.6": ("schedule", {"train": dict(warmdown=0.6)}, "warmdown over the last 60%"),
    "muon-lr-0.01": ("learning rate", {"train": dict(muon_lr=0.01)}, "Muon lr 0.01 (0.02)"),
    "muon-lr-0.04": ("learning rate", {"train": dict(muon_lr=0.04)}, "Muon lr 0.04 (0.02)"),
    "lr-3e-3": ("learning rate", {"train": dict(lr=3e-3)}, "embedding AdamW lr 3e-3 (6e-3)"),
    "lr-1.2e-2": ("learning rate", {"train": dict(lr=1.2e-2)}, "embedding AdamW lr 1.2e-2"),
    "vocab-1024": ("vocabulary", {"vocab": 1024}, "a 1,024-token vocabulary (2,048)"),
    "vocab-6144": ("vocabulary", {"vocab": 6144}, "a 6,144-token vocabulary (issue 18's)"),
    "vocab-4096": ("vocabulary", {"vocab": 4096}, "a 4,096-token vocabulary"),
    "vocab-8192": ("vocabulary", {"vocab": 8192}, "an 8,192-token vocabulary"),
    "3-layers": ("shape", {"model": dict(n_layer=3)}, "3 layers (4)"),
    "5-layers": ("shape", {"model": dict(n_layer=5)}, "5 layers"),
    "width-96": ("shape", {"model": dict(d_model=96, n_head=3)}, "96 wide, 3 heads (128, 4)"),
    "width-160": ("shape", {"model": dict(d_model=160, n_head=5)}, "160 wide, 5 heads"),
    "context-64": ("shape", {"model": dict(context=64)}, "context 64 (128)"),
    "context-256": ("shape", {"model": dict(context=256)}, "context 256"),
    "batch-4": ("batch", {"train": dict(batch_size=4)}, "batch 4 sequences (8)"),
    "batch-16": ("batch", {"train": dict(batch_size=16)}, "batch 16 sequences"),
    "accum-2": ("batch", {"train": dict(grad_accum=2)}, "8 x 2 accumulated: half the steps"),
    "untied": ("other", {"model": dict(tie_weights=False)}, "output layer not tied to the embedding"),
    "swiglu": ("other", {"model": dict(mlp="swiglu")}, "SwiGLU MLP (relu^2)"),
    "softcap-15": ("other", {"model": dict(logit_softcap=15.0)}, "logits soft-capped at 15"),
    "compile": ("other", {"train": dict(compile=True)}, "torch.compile (inductor; its compile time counts)"),
}  # fmt: skip
EXTRA: dict[str, tuple[str, dict]] = {}  # --with: a variant of each row, named NAME+TAG


def settings(name: str) -> dict:
    """A row's vocabulary, model and train changes to the preset."""
    if name in EXTRA:
        parent, more = EXTRA[name]
        base = settings(parent)
        return {"vocab": more.get("vocab", base["vocab"]),
                "model": {**base["model"], **more.get("model", {})},
                "train": {**base["train"], **more.get("train", {})}}  # fmt: skip
    changes = ROWS[name][1]
    return {"vocab": changes.get("vocab", PRESETS["tiny"].vocab_size),
            "model": dict(changes.get("model", {})), "train": dict(changes.get("train", {}))}  # fmt: skip


def configs(name: str, vocab_size: int, **limits):
    """The preset's own code path (`lmcore train --preset tiny` with flags) for every row."""
    row = settings(name)
    return configs_from_preset("tiny", vocab_size, row["model"], **{**row["train"], **limits})


def log(*parts: object) -> None:
    print(*parts, file=sys.stderr, flush=True)


class Prepared:
    """Tokenizers and encoded corpora, one per vocabulary size, made once (not timed)."""

    def __init__(self, data: Path, workdir: Path) -> None:
        self.data, self.workdir, self.cache = data, workdir, {}

    def __call__(self, vocab: int):
        if vocab not in self.cache:
            self.cache[vocab] = prepare_text(
                [self.data], vocab, self.workdir / f"data-{vocab}", val_fraction=VAL_FRACTION
            )
        return self.cache[vocab]


def run_one(name: str, prepared: Prepared, workdir: Path, limits: dict) -> dict:
    tokenizer, corpus = prepared(settings(name)["vocab"])
    model_config, train_config = configs(name, tokenizer.vocab_size, **limits)
    if "max_steps" in limits:
        train_config.eval_every = 10**9  # evaluations change nothing in a run by steps
    evals = []
    load_before = os.getloadavg()[0]
    out = workdir / f"run-{len(list(workdir.glob('run-*')))}"
    result = train(model_config, train_config, corpus, tokenizer, out,
                   on_event=lambda e: evals.append(e) if e["event"] == "eval" else None)  # fmt: skip
    load_after = os.getloadavg()[0]
    # What `python -m lmcore eval --checkpoint OUT --input DATA --val-fraction 0.1` prints.
    scored, _ = score_files(load_checkpoint(out, "cpu"), [prepared.data], VAL_FRACTION)
    row = {"row": name, "val_bpb": round(scored.bpb, 4), "run_bpb": round(result.val_bpb, 4),
           "steps": result.step, "tokens_per_s": round(result.tokens_per_s),
           "seconds": result.seconds, "params": result.params, "vocab": tokenizer.vocab_size,
           "bytes_per_token": round(corpus.val_bytes / corpus.val_tokens, 3),
           "load": [round(load_before, 2), round(load_after, 2)],
           "curve": [(e["step"], e["val_bpb"]) for e in evals]}  # fmt: skip
    log(f"{name:>16}: {json.dumps({k: v for k, v in row.items() if k != 'curve'})}")
    return row


def step_costs(names: list[str], prepared: Prepared, rounds: int, steps: int) -> dict[str, float]:
    """Median ms per optimizer step (forward, backward, update) of each row, timed in turn.
    CPU time of this process, not wall clock: with one thread (--threads 1) it is what a
    step costs whatever the neighbours take; with more it counts threads spinning too."""
    setups = {}
    for name in names:
        tokenizer, corpus = prepared(settings(name)["vocab"])
        model_config, cfg = configs(name, tokenizer.vocab_size, max_steps=1, device="cpu")
        torch.manual_seed(cfg.seed)
        model = GPT(model_config)
        setups[name] = (model, make_optimizer(model, cfg, torch.device("cpu")), cfg,
                        corpus.split("train"))  # fmt: skip
    times: dict[str, list[float]] = {name: [] for name in names}
    for r in range(rounds):
        for name, (model, optimizer, cfg, data) in setups.items():
            started = time.process_time()
            for s in range(steps):
                for _ in range(cfg.grad_accum):
                    x, y = get_batch(
                        data, cfg.batch_size, model.config.context, (r, s), torch.device("cpu")
                    )
                    _, loss = model(x, y)
                    loss.backward()
                optimizer.step()
                optimizer.zero_grad(set_to_none=True)
            times[name].append(1000 * (time.process_time() - started) / steps)
    return {name: round(statistics.median(t), 2) for name, t in times.items()}


def table(rows: list[dict], changes: dict | None) -> None:
    ref = next((r["val_bpb"] for r in rows if r["row"] == PRESET), None)
    log(
        "\n| row | tests | change | params | bytes/token | steps | tokens/s | val bpb | vs preset |"
    )
    log("|---|---|---|---:|---:|---:|---:|---:|---:|")
    for row in rows:
        group, _, what = ROWS.get(row["row"], ("", None, json.dumps(changes)))
        delta = f"{row['val_bpb'] - ref:+.3f}" if ref is not None else ""
        log(f"| {row['row']} | {group} | {what} | {row['params']:,} | {row['bytes_per_token']} "
            f"| {row['steps']:,} | {row['tokens_per_s']:,} | **{row['val_bpb']:.3f}** | {delta} |")  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--max-seconds", "--seconds", dest="seconds", type=float, default=180.0,
                        help="budget per row (wall clock)")  # fmt: skip
    parser.add_argument("--steps", type=int, help="a step budget instead of --max-seconds")
    parser.add_argument("--seed", type=int, default=1, help="as the user path's --seed 1")
    parser.add_argument("--cost", action="store_true", help="time steps instead of training")
    parser.add_argument("--only", help="comma-separated rows (default: every row)")
    parser.add_argument("--with", dest="changes", type=json.loads, metavar="JSON",
                        help='run each row with these changes, e.g. \'{"train": {"lr": 3e-3}}\'')  # fmt: skip
    parser.add_argument("--tag", default="+", help="suffix of the --with variants' names")
    parser.add_argument("--threads", type=int, default=torch.get_num_threads(),
                        help="CPU threads (default: torch's, as the user path)")  # fmt: skip
    args = parser.parse_args()
    if args.data is None or not Path(args.data).is_file():
        parser.error("no tinyshakespeare.txt: pass --data FILE")
    names = [n.strip() for n in args.only.split(",")] if args.only else list(ROWS)
    unknown = [n for n in names if n not in ROWS]
    if unknown:
        parser.error(f"unknown rows {unknown}: expected some of {', '.join(ROWS)}")
    if args.changes:
        for name in names:
            EXTRA[name + args.tag] = (name, args.changes)
        names = [name + args.tag for name in names]
    torch.set_num_threads(args.threads)
    report = {"torch": torch.__version__, "threads": args.threads, "cpus": os.cpu_count(),
              "seed": args.seed, "val_fraction": VAL_FRACTION}  # fmt: skip
    with tempfile.TemporaryDirectory(prefix="bench-recipe-") as tmp:
        prepared = Prepared(args.data, Path(tmp))
        if args.cost:
            report["ms_per_step"] = step_costs(names, prepared, rounds=7, steps=10)
            log(json.dumps(report["ms_per_step"]))
        else:
            limits = {"max_steps": args.steps} if args.steps else {"max_seconds": args.seconds}
            limits.update(seed=args.seed, device="cpu")
            report.update(limits, rows=[run_one(n, prepared, Path(tmp), limits) for n in names])
            table(report["rows"], args.changes)
    print(json.dumps(report))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
