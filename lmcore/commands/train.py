"""`python -m lmcore train`: a whole run from one file (`--config run.json`), flags as overrides.

The run file (lmcore/runspec.py) holds the model, the recipe, the data and the run directory;
every flag here overrides one of its fields, so `--tokenizer T --input F --out RUN` with no
file still works. Prints the training events as JSON lines: "start", "step", "eval",
"sample", "checkpoint" and a final "done". `--resume` continues RUN from its checkpoint with
the configuration saved in RUN/run.json; only the limits, evaluation cadence and device change.

Fine-tuning for chat: `--init-from CKPT --chat-data F.jsonl ...` (the run file's `finetune`
section) starts from CKPT's weights and tokenizer, trains on the conversations with the loss
on the assistant's tokens only (lmcore/finetune.py), and prints the same events; its "eval"
lines score held-out conversations and its "sample" lines are replies to them. With
`--lora-rank R` (`finetune.lora`) it trains a LoRA adapter on the frozen CKPT instead
(lmcore/lora.py) and checkpoints the adapter only, with a reference to CKPT.

Data: the corpus is encoded into RUN/data once, before training. Under torchrun every rank
opens the same encoded corpus, so it must exist before the launch (`--prepare-only`, or a
first single-process run): no rank waits for minutes in a collective while another encodes.

Threads: `--threads N` sets torch's intra-op threads in every process before any work (torchrun
passes the same flags to every rank); without it torch chooses (OMP_NUM_THREADS, which torchrun
sets to 1 for several processes, else one per core). On a machine shared with other work, give
each process its share (lmcore/threads.py): the Bottega worker always does.

Signals: SIGTERM or Ctrl-C stops cooperatively (a checkpoint is saved, the "done" line says
"cancelled") and the process exits with EXIT_STOPPED, so a supervisor can tell "stopped and
resumable" from success (0) and failure (1). A second Ctrl-C aborts; SIGTERM never does
(torchrun forwards the signal its group already received, so ranks see it twice).
"""

from __future__ import annotations

import argparse
import contextlib
import signal
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from lmcore import distributed, threads
from lmcore.cli import emit
from lmcore.config import DEVICES, OPTIMIZERS
from lmcore.errors import LmcoreError
from lmcore.preparation import open_chat, open_prepared, prepare, prepare_chat
from lmcore.presets import PRESETS
from lmcore.runspec import RunSpec, merge, read_json, resolve

EXIT_STOPPED = 75  # sysexits' EX_TEMPFAIL: stopped by a signal, checkpoint saved, resume later


def number_arg(kind, low: float, low_ok: bool, high: float | None = None):
    def parse(text: str):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
        if value < low or (value == low and not low_ok) or (high is not None and value >= high):
            bound = f"[{low}, {high})" if high is not None else f"{'>=' if low_ok else '>'} {low}"
            raise argparse.ArgumentTypeError(f"{text} is out of range ({bound})")
        return value

    return parse


POSITIVE_INT, POSITIVE = number_arg(int, 1, True), number_arg(float, 0, False)
FRACTION = number_arg(float, 0, True, 1.0)
# flag -> (section of the run file, field, parser)
OVERRIDES: dict[str, tuple[str, str, Any]] = {
    "--n-layer": ("model", "n_layer", POSITIVE_INT),
    "--n-head": ("model", "n_head", POSITIVE_INT),
    "--d-model": ("model", "d_model", POSITIVE_INT),
    "--context": ("model", "context", POSITIVE_INT),
    "--dropout": ("model", "dropout", FRACTION),
    "--batch-size": ("train", "batch_size", POSITIVE_INT),
    "--grad-accum": ("train", "grad_accum", POSITIVE_INT),
    "--optimizer": ("train", "optimizer", str),
    "--lr": ("train", "lr", POSITIVE),
    "--muon-lr": ("train", "muon_lr", POSITIVE),
    "--warmdown": ("train", "warmdown", number_arg(float, 0, False, 1.000001)),
    "--min-lr-ratio": ("train", "min_lr_ratio", number_arg(float, 0, True, 1.000001)),
    "--warmup-steps": ("train", "warmup_steps", number_arg(int, 0, True)),
    "--max-steps": ("train", "max_steps", POSITIVE_INT),
    "--max-seconds": ("train", "max_seconds", POSITIVE),
    "--eval-every": ("train", "eval_every", POSITIVE_INT),
    "--eval-tokens": ("train", "eval_tokens", POSITIVE_INT),
    "--log-every": ("train", "log_every", POSITIVE_INT),
    "--seed": ("train", "seed", int),
    "--device": ("train", "device", str),
    "--val-fraction": ("data", "val_fraction", number_arg(float, 0, False, 1.0)),
}


CHOICES = {"--device": DEVICES, "--optimizer": OPTIMIZERS}


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("train", help="train a GPT on text files (JSON lines out)")
    p.add_argument("--config", type=Path, metavar="RUN.json", help="the run file")
    p.add_argument("--tokenizer", type=Path, metavar="DIR")
    p.add_argument("--input", type=Path, nargs="+", metavar="F")
    p.add_argument("--out", type=Path, metavar="RUN")
    p.add_argument("--data-dir", type=Path, metavar="DIR", help="encoded corpus (RUN/data)")
    p.add_argument("--preset", choices=sorted(PRESETS))
    for flag, (_, _, kind) in OVERRIDES.items():
        extra = {"choices": CHOICES[flag]} if flag in CHOICES else {"metavar": "X"}
        p.add_argument(flag, type=kind, **extra)
    p.add_argument(
        "--init-from",
        type=Path,
        metavar="CKPT",
        help="fine-tune for chat: start from this checkpoint's weights and tokenizer",
    )
    p.add_argument(
        "--chat-data",
        type=Path,
        nargs="+",
        metavar="F",
        help="conversation JSONL files to fine-tune on (with --init-from)",
    )
    p.add_argument(
        "--text-ratio",
        type=FRACTION,
        metavar="X",
        help="share of batch rows drawn from the --input text corpora instead",
    )
    p.add_argument("--lora-rank", type=POSITIVE_INT, metavar="R",
                   help="fine-tune a LoRA adapter of rank R (the base frozen) instead of every "
                   "weight")  # fmt: skip
    p.add_argument("--lora-alpha", type=POSITIVE, metavar="A",
                   help="LoRA scaling numerator: updates are scaled by A / R (default 2 x R)")  # fmt: skip
    p.add_argument("--lora-dropout", type=FRACTION, metavar="P",
                   help="dropout on the adapter's input (default 0)")  # fmt: skip
    p.add_argument("--lora-targets", metavar="LIST",
                   help="matrices to adapt, comma-separated: q,k,v,o,gate,up,down (or PEFT's "
                   "q_proj, ...); default every one the model has")  # fmt: skip
    p.add_argument("--threads", type=POSITIVE_INT, metavar="N",
                   help="torch intra-op threads in each process (default: torch's, which is "
                   "OMP_NUM_THREADS when set, else one per core)")  # fmt: skip
    p.add_argument("--resume", action="store_true", help="continue RUN from its checkpoint")
    p.add_argument("--prepare-only", action="store_true",
                   help="encode the corpus and write RUN/run.json, then exit")  # fmt: skip
    p.set_defaults(func=cmd_train)


def spec_from_args(args: argparse.Namespace) -> RunSpec:
    """The run file (if any) with every given flag laid over it."""
    raw = read_json(args.config) if args.config else {}
    overrides: dict[str, Any] = {"model": {}, "train": {}, "data": {}}
    for flag, (section, name, _) in OVERRIDES.items():
        overrides[section][name] = getattr(args, flag[2:].replace("-", "_"))
    cwd = Path.cwd()  # flags are relative to where the command runs, the file to the file
    for name, value in (("out", args.out), ("tokenizer", args.tokenizer)):
        overrides[name] = str(cwd / value) if value else None
    if args.input:
        overrides["data"]["inputs"] = [str(cwd / p) for p in args.input]
    if args.data_dir:
        overrides["data"]["dir"] = str(cwd / args.data_dir)
    lora = _lora_flags(args, raw)
    if args.init_from or args.chat_data or args.text_ratio is not None or lora:
        overrides["finetune"] = {
            "init_from": str(cwd / args.init_from) if args.init_from else None,
            "chat_data": [str(cwd / p) for p in args.chat_data] if args.chat_data else None,
            "text_ratio": args.text_ratio, "lora": lora,
        }  # fmt: skip
    overrides["preset"] = args.preset
    overrides["resume"] = True if args.resume else None
    return resolve(merge(raw, overrides), args.config.parent if args.config else cwd)


def _lora_flags(args: argparse.Namespace, raw: dict[str, Any]) -> dict[str, Any] | None:
    """The run file's finetune.lora with the --lora-* flags laid over it; None if neither."""
    given = {"r": args.lora_rank, "alpha": args.lora_alpha, "dropout": args.lora_dropout,
             "targets": [t.strip() for t in args.lora_targets.split(",") if t.strip()]
             if args.lora_targets is not None else None}  # fmt: skip
    given = {k: v for k, v in given.items() if v is not None}
    if not given:
        return None
    saved = (
        (raw.get("finetune") or {}).get("lora") if isinstance(raw.get("finetune"), dict) else None
    )
    if "r" not in given and not isinstance(saved, dict):
        raise LmcoreError("--lora-alpha, --lora-dropout and --lora-targets need --lora-rank")
    return {**(saved if isinstance(saved, dict) else {}), **given}


def cmd_train(args: argparse.Namespace) -> int:
    spec = spec_from_args(args)
    ctx = distributed.context_from_env()
    if args.threads:
        threads.use_threads(args.threads)
    if not spec.resume and (spec.checkpoint_dir / "config.json").exists():
        raise LmcoreError(f"{spec.out} already holds a run: pass --resume or pick another --out")
    if ctx.enabled:  # every rank opens the corpus prepared before the launch
        corpus, tokenizer = open_prepared(spec)
        if ctx.is_main:
            spec.save()
    else:
        corpus, tokenizer = prepare(spec, on_event=emit)
    chat = None
    if spec.finetune is not None:
        chat = open_chat(spec) if ctx.enabled else prepare_chat(spec, tokenizer, on_event=emit)
    if args.prepare_only:
        emit({"event": "prepared", "run_file": str(spec.out / "run.json"),
              "train_tokens": corpus.train_tokens if corpus else 0,
              "val_tokens": corpus.val_tokens if corpus else 0,
              "conversations": chat.conversations if chat else None})  # fmt: skip
        return 0
    from lmcore.train import train

    try:
        with _stop_on_signal() as stopped:
            result = train(spec.model, spec.train, corpus, tokenizer, spec.checkpoint_dir,
                           chat=chat, resume=spec.resume, on_event=emit,
                           should_cancel=stopped)  # fmt: skip
    finally:
        distributed.shutdown(ctx)
    return EXIT_STOPPED if result.reason == "cancelled" else 0


@contextlib.contextmanager
def _stop_on_signal() -> Iterator[Callable[[], bool]]:
    """Yield a should_cancel() that turns true on SIGTERM / SIGINT; a second SIGINT aborts."""
    seen: set[int] = set()

    def handler(signum, frame):
        if signum == signal.SIGINT and signum in seen:
            raise KeyboardInterrupt
        seen.add(signum)

    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield lambda: bool(seen)
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)
