"""`python -m lmcore eval`: loss and bits per byte of a checkpoint on text files.

Prints one JSON object {"loss", "bpb", "tokens", "bytes"}: loss in nats per token,
bpb in bits per UTF-8 byte. With `--val-fraction X` only the last X of the files' bytes is
scored (the validation split a training run with the same fraction held out); without it,
the whole text. The files are encoded into a temporary directory that is removed afterwards.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from lmcore.checkpoint import load_checkpoint
from lmcore.cli import emit
from lmcore.commands.train import POSITIVE_INT, number_arg
from lmcore.data import encode_corpus
from lmcore.device import DEVICES, configure, resolve_device
from lmcore.evaluate import evaluate, token_byte_lengths


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("eval", help="loss and bits per byte of a checkpoint on text")
    p.add_argument("--checkpoint", type=Path, required=True, metavar="RUN")
    p.add_argument("--input", type=Path, nargs="+", required=True, metavar="F")
    p.add_argument("--val-fraction", type=number_arg(float, 0, False, 1.0), metavar="X")
    p.add_argument("--max-tokens", type=POSITIVE_INT, metavar="N", help="score at most N tokens")
    p.add_argument("--batch-size", type=POSITIVE_INT, default=32, metavar="N")
    p.add_argument("--device", choices=DEVICES, default="auto")
    p.set_defaults(func=cmd_eval)


def cmd_eval(args: argparse.Namespace) -> int:
    device = resolve_device(args.device)
    configure(device)
    checkpoint = load_checkpoint(args.checkpoint, device)
    byte_lengths = token_byte_lengths(checkpoint.tokenizer.bytes_table())
    with tempfile.TemporaryDirectory(prefix="lmcore-eval-") as tmp:
        corpus = encode_corpus(
            checkpoint.tokenizer, args.input, Path(tmp), val_fraction=args.val_fraction or 0.0
        )
        split = corpus.split("val" if args.val_fraction else "train")
        result = evaluate(checkpoint.model, split, byte_lengths, batch_size=args.batch_size,
                          max_tokens=args.max_tokens)  # fmt: skip
    emit(result.to_dict())
    return 0
