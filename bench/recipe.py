"""The `tiny` recipe's ablation: what each of the field's choices since nanoGPT buys in 180 s.

    .venv/bin/python bench/recipe.py                  # the ablation: 180 s per config, in turn
    .venv/bin/python bench/recipe.py --steps 1000     # a fixed number of steps each instead
    .venv/bin/python bench/recipe.py --cost           # ms per training step, configs interleaved
    .venv/bin/python bench/recipe.py --only baseline,muon --seconds 60

Each config is its parent plus a few changes (CONFIGS); the ablation's rows are a chain from
`baseline` (the `tiny` preset as it was before this ablation, spelled out here so that the
row stays the same when the preset changes) to the preset as it is now (`tiny (preset)`).
The rule is bench/train.py's: tinyshakespeare, the last 10% of its bytes held out, a
tokenizer of the config's vocabulary trained on the rest, then `lmcore.train.train` for
`--seconds` of wall clock with the preset's periodic evaluations (ten, 8,192 tokens each,
plus samples and checkpoints) inside the budget; the reported bpb is the final evaluation's,
on the whole validation split, after the budget. Tokenizer training and encoding are not
counted. Same seed for every config; configs run one after another, never side by side.

`--steps N` makes a run deterministic and independent of the machine's load (the schedule
follows steps, not the clock): configs then compare at equal steps, and `--cost` tells how
many steps each affords in the same time (each config's step timed in turn, round-robin, so
load changes hit all of them alike). Prints one JSON object, a table on stderr.
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

from lmcore.config import GPTConfig, TrainConfig  # noqa: E402
from lmcore.data import encode_corpus  # noqa: E402
from lmcore.model import GPT  # noqa: E402
from lmcore.optim import make_optimizer  # noqa: E402
from lmcore.presets import PRESETS, configs_from_preset  # noqa: E402
from lmcore.tokenizer import TokenizerConfig, train_tokenizer  # noqa: E402
from lmcore.train import get_batch, train  # noqa: E402

# The tiny preset before this ablation (lmcore/presets.py of 2026-11-28).
BASELINE = {
    "vocab": 2048,
    "model": dict(context=128, n_layer=4, n_head=4, d_model=128),
    "train": dict(batch_size=8, lr=2e-3, warmup_steps=50, eval_tokens=8192, log_every=10),
}
# name: (parent, changes, what changed). Model and train changes are GPTConfig / TrainConfig
# fields; "vocab" is the tokenizer's vocabulary.
CONFIGS: dict[str, tuple[str | None, dict, str]] = {
    "baseline": (None, BASELINE, "AdamW lr 2e-3, cosine; 4 x 128, context 128, vocab 2,048"),
    "muon": ("baseline", {"train": dict(optimizer="muon", muon_lr=0.02)},
             "Muon (lr 0.02) on the blocks' matrices; AdamW on the embedding"),
    "warmdown": ("muon", {"train": dict(warmdown=0.4)},
                 "peak held, then a linear warmdown over the last 40% (was cosine)"),
    "embedding-lr": ("warmdown", {"train": dict(lr=6e-3)}, "AdamW lr 6e-3 (the embedding)"),
    "vocab-6144": ("embedding-lr", {"vocab": 6144}, "a 6,144-token vocabulary"),
    "3-layers": ("vocab-6144", {"model": dict(n_layer=3)}, "3 layers"),
    "width-96": ("vocab-6144", {"model": dict(d_model=96, n_head=3)}, "96 wide (3 heads of 32)"),
    "vocab-8192": ("embedding-lr", {"vocab": 8192}, "an 8,192-token vocabulary"),
}  # fmt: skip
PRESET_ROW = "tiny (preset)"
EXTRA: dict[str, tuple[str, dict]] = {}  # --with: a variant of each config, named NAME+TAG


def resolve(name: str) -> dict:
    """A config's full settings: its ancestors' changes applied in order."""
    if name in EXTRA:
        return _apply(resolve(EXTRA[name][0]), EXTRA[name][1])
    if name == PRESET_ROW:
        preset = PRESETS["tiny"]
        return {
            "vocab": preset.vocab_size,
            "model": dict(preset.model),
            "train": dict(preset.train),
        }
    parent, changes, _ = CONFIGS[name]
    return _apply(resolve(parent) if parent else {"vocab": None, "model": {}, "train": {}}, changes)


def _apply(settings: dict, changes: dict) -> dict:
    return {
        "vocab": changes.get("vocab", settings["vocab"]),
        "model": {**settings["model"], **changes.get("model", {})},
        "train": {**settings["train"], **changes.get("train", {})},
    }


def configs(name: str, vocab_size: int, **limits) -> tuple[GPTConfig, TrainConfig]:
    settings = resolve(name)
    if name == PRESET_ROW:  # the preset's own code path
        return configs_from_preset("tiny", vocab_size, device="cpu", **limits)
    train_kw = {**settings["train"], "device": "cpu", **limits}
    return GPTConfig(vocab_size=vocab_size, **settings["model"]), TrainConfig(**train_kw)


def log(*parts: object) -> None:
    print(*parts, file=sys.stderr, flush=True)


class Prepared:
    """Tokenizers and encoded corpora, one per vocabulary size, made once (not timed)."""

    def __init__(self, data: Path, workdir: Path) -> None:
        self.data, self.workdir, self.cache = data, workdir, {}

    def __call__(self, vocab: int):
        if vocab not in self.cache:
            tokenizer = train_tokenizer([self.data], TokenizerConfig(vocab_size=vocab))
            corpus = encode_corpus(tokenizer, [self.data], self.workdir / f"data-{vocab}",
                                   val_fraction=0.1)  # fmt: skip
            self.cache[vocab] = (tokenizer, corpus)
        return self.cache[vocab]


def run_one(name: str, prepared: Prepared, workdir: Path, limits: dict) -> dict:
    tokenizer, corpus = prepared(resolve(name)["vocab"])
    model_config, train_config = configs(name, tokenizer.vocab_size, **limits)
    if "max_steps" in limits:
        train_config.eval_every = 10**9  # evaluations change nothing in a run by steps
    evals = []
    load_before = os.getloadavg()[0]
    result = train(model_config, train_config, corpus, tokenizer, workdir / f"run-{name}",
                   on_event=lambda e: evals.append(e) if e["event"] == "eval" else None)  # fmt: skip
    row = {"config": name, "val_bpb": round(result.val_bpb, 4), "steps": result.step,
           "tokens_per_s": round(result.tokens_per_s), "seconds": result.seconds,
           "params": result.params, "vocab": tokenizer.vocab_size,
           "bytes_per_token": round(corpus.val_bytes / corpus.val_tokens, 3),
           "load": [round(load_before, 2), round(os.getloadavg()[0], 2)],
           "curve": [(e["step"], e["val_bpb"]) for e in evals]}  # fmt: skip
    log(f"{name:>16}: {json.dumps({k: v for k, v in row.items() if k != 'curve'})}")
    return row


def step_costs(names: list[str], prepared: Prepared, rounds: int, steps: int) -> dict[str, float]:
    """Median ms per optimizer step (forward, backward, update) of each config, timed in turn.
    CPU time of this process, not wall clock: with one thread (--threads 1) it is what a
    step costs whatever the neighbours take; with more it counts threads spinning too."""
    setups = {}
    for name in names:
        tokenizer, corpus = prepared(resolve(name)["vocab"])
        model_config, cfg = configs(name, tokenizer.vocab_size, max_steps=1)
        torch.manual_seed(cfg.seed)
        model = GPT(model_config)
        setups[name] = (model, make_optimizer(model, cfg, torch.device("cpu")), cfg,
                        corpus.split("train"))  # fmt: skip
    times: dict[str, list[float]] = {name: [] for name in names}
    for r in range(rounds):
        for name, (model, optimizer, cfg, data) in setups.items():
            started = time.process_time()
            for s in range(steps):
                x, y = get_batch(
                    data, cfg.batch_size, model.config.context, (r, s), torch.device("cpu")
                )
                _, loss = model(x, y)
                loss.backward()
                optimizer.step()
                optimizer.zero_grad(set_to_none=True)
            times[name].append(1000 * (time.process_time() - started) / steps)
    return {name: round(statistics.median(t), 2) for name, t in times.items()}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--seconds", type=float, default=180.0, help="budget per config")
    parser.add_argument("--steps", type=int, help="a step budget instead of --seconds")
    parser.add_argument("--cost", action="store_true", help="time steps instead of training")
    parser.add_argument("--only", help="comma-separated configs (default: all, then the preset)")
    parser.add_argument(
        "--with",
        dest="changes",
        type=json.loads,
        metavar="JSON",
        help='run each config with these changes, e.g. \'{"train": {"lr": 3e-3}}\'',
    )
    parser.add_argument("--tag", default="+", help="suffix of the --with variants' names")
    parser.add_argument("--threads", type=int, default=os.cpu_count(), help="CPU threads")
    args = parser.parse_args()
    names = args.only.split(",") if args.only else [*CONFIGS, PRESET_ROW]
    unknown = [n for n in names if n not in CONFIGS and n != PRESET_ROW]
    if unknown:
        parser.error(f"unknown configs {unknown}: expected some of {', '.join(CONFIGS)}")
    if args.changes:
        for name in names:
            EXTRA[name + args.tag] = (name, args.changes)
        names = [name + args.tag for name in names]
    torch.set_num_threads(args.threads)
    report = {"torch": torch.__version__, "threads": args.threads, "cpus": os.cpu_count(),
              "seed": TrainConfig.seed}  # fmt: skip
    with tempfile.TemporaryDirectory(prefix="bench-recipe-") as tmp:
        prepared = Prepared(args.data, Path(tmp))
        if args.cost:
            report["ms_per_step"] = step_costs(names, prepared, rounds=7, steps=10)
            log(json.dumps(report["ms_per_step"]))
        else:
            limits = {"max_steps": args.steps} if args.steps else {"max_seconds": args.seconds}
            report.update(limits, rows=[run_one(n, prepared, Path(tmp), limits) for n in names])
            log("\n| config | on | change | params | bytes/token | steps | tokens/s | val bpb |")
            log("|---|---|---|---:|---:|---:|---:|---:|")
            for row in report["rows"]:
                what = CONFIGS[row["config"]][2] if row["config"] in CONFIGS else args.changes
                what = "lmcore/presets.py as it is" if row["config"] == PRESET_ROW else what
                parent = CONFIGS[row["config"]][0] if row["config"] in CONFIGS else ""
                log(f"| {row['config']} | {parent or ''} | {what} | {row['params']:,} | {row['bytes_per_token']} "
                    f"| {row['steps']:,} | {row['tokens_per_s']:,} | **{row['val_bpb']:.3f}** |")  # fmt: skip
    print(json.dumps(report))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
