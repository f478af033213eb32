"""`python -m lmcore train`: encode a corpus into RUN/data/, train into RUN/checkpoint/.

Prints the training events as JSON lines (docs/architecture.md, "The lmcore CLI"): "step",
"eval" and a final "done", plus "start", "sample" and "checkpoint" lines that readers may skip.
Under torchrun, rank 0 alone encodes the corpus and prints. SIGTERM or Ctrl-C cancels
cooperatively: the run saves a checkpoint and ends with a "done" line whose reason is
"cancelled" (a second signal aborts).

`--resume` continues RUN with the configuration saved in its checkpoint; only the limits,
`--eval-every` and `--device` can change on resume.
"""

from __future__ import annotations

import argparse
import contextlib
import signal
from collections.abc import Iterator
from pathlib import Path

from lmcore import distributed
from lmcore.checkpoint import CHECKPOINT_SUBDIR, find_checkpoint, read_config
from lmcore.cli import emit
from lmcore.data import EncodedCorpus, encode_corpus, load_encoded, tokenizer_digest
from lmcore.device import DEVICES, resolve_device
from lmcore.errors import LmcoreError
from lmcore.model import GPTConfig
from lmcore.presets import PRESETS, configs_from_preset
from lmcore.tokenizer import Tokenizer
from lmcore.train import TrainConfig, train


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


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("train", help="train a GPT on text files (JSON lines out)")
    p.add_argument("--tokenizer", type=Path, required=True, metavar="DIR")
    p.add_argument("--input", type=Path, nargs="+", required=True, metavar="F")
    p.add_argument("--out", type=Path, required=True, metavar="RUN")
    p.add_argument("--preset", choices=sorted(PRESETS), default="tiny")
    for flag in ("--n-layer", "--n-head", "--d-model", "--context", "--batch-size"):
        p.add_argument(flag, type=POSITIVE_INT, metavar="N")
    p.add_argument("--lr", type=POSITIVE, metavar="LR")
    p.add_argument("--dropout", type=number_arg(float, 0, True, 1.0), metavar="P")
    p.add_argument("--max-steps", type=POSITIVE_INT, metavar="N")
    p.add_argument("--max-seconds", type=POSITIVE, metavar="S")
    p.add_argument("--eval-every", type=POSITIVE_INT, metavar="N")
    p.add_argument("--device", choices=DEVICES, default="auto")
    p.add_argument("--seed", type=int, metavar="N")
    p.add_argument(
        "--val-fraction", type=number_arg(float, 0, False, 1.0), default=0.1, metavar="X"
    )
    p.add_argument("--resume", action="store_true", help="continue RUN from its checkpoint")
    p.set_defaults(func=cmd_train)


def cmd_train(args: argparse.Namespace) -> int:
    tokenizer = Tokenizer.load(args.tokenizer)
    ckpt_dir = args.out / CHECKPOINT_SUBDIR
    if args.resume:
        model_config, train_config = _resumed_configs(args)
    else:
        if (ckpt_dir / "config.json").exists():
            raise LmcoreError(
                f"{args.out} already holds a run: pass --resume or pick another --out"
            )
        model_config, train_config = configs_from_preset(
            args.preset, tokenizer.vocab_size,
            {"n_layer": args.n_layer, "n_head": args.n_head, "d_model": args.d_model,
             "context": args.context, "dropout": args.dropout},
            batch_size=args.batch_size, lr=args.lr, max_steps=args.max_steps,
            max_seconds=args.max_seconds, eval_every=args.eval_every, device=args.device,
            seed=args.seed,
        )  # fmt: skip
    ctx = distributed.init_distributed(
        resolve_device(train_config.device, distributed.context_from_env().local_rank).type
    )
    try:
        if ctx.is_main:
            corpus = _prepare_corpus(args, tokenizer)
        distributed.barrier(ctx)  # the other ranks wait for rank 0's encoding
        if not ctx.is_main:
            corpus = load_encoded(args.out / "data")
        with _cancel_on_signal() as cancelled:
            train(model_config, train_config, corpus, tokenizer, ckpt_dir, resume=args.resume,
                  on_event=emit, should_cancel=cancelled)  # fmt: skip
    finally:
        distributed.shutdown(ctx)
    return 0


def _resumed_configs(args: argparse.Namespace) -> tuple[GPTConfig, TrainConfig]:
    config = read_config(find_checkpoint(args.out / CHECKPOINT_SUBDIR))
    train_config = TrainConfig.from_dict(config["train"])
    if args.max_steps is not None or args.max_seconds is not None:
        train_config.max_steps, train_config.max_seconds = args.max_steps, args.max_seconds
    if args.eval_every is not None:
        train_config.eval_every = args.eval_every
    train_config.device = args.device
    train_config.validate()
    return GPTConfig(**config["model"]), train_config


def _prepare_corpus(args: argparse.Namespace, tokenizer: Tokenizer) -> EncodedCorpus:
    """Encode the inputs, or on resume reuse RUN/data when it was made with this tokenizer."""
    data_dir = args.out / "data"
    if args.resume and (data_dir / "meta.json").is_file():
        corpus = load_encoded(data_dir)
        if corpus.tokenizer_sha256 == tokenizer_digest(tokenizer):
            return corpus
    return encode_corpus(tokenizer, args.input, data_dir, val_fraction=args.val_fraction)


@contextlib.contextmanager
def _cancel_on_signal() -> Iterator[callable]:
    """Yield a should_cancel() that turns true on SIGTERM / SIGINT; a second signal aborts."""
    flag = {"set": False}

    def handler(signum, frame):
        if flag["set"]:
            raise KeyboardInterrupt
        flag["set"] = True

    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield lambda: flag["set"]
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)
