"""`python -m lmcore eval`: loss and bits per byte of a checkpoint on text files.

Prints one JSON object {"loss", "bpb", "tokens", "bytes", "corpora": {file name: the same
four}}: loss in nats per token, bpb in bits per UTF-8 byte, overall and per input file. With
`--val-fraction X` only the last X of each file is scored (the validation split a training run
with the same fraction held out); without it, the whole text. The files are encoded into a temporary directory that is removed afterwards.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from lmcore.checkpoint import Checkpoint, load_checkpoint
from lmcore.cli import emit
from lmcore.commands.train import POSITIVE_INT, number_arg
from lmcore.device import DEVICES, configure, resolve_device
from lmcore.evaluate import EvalResult, evaluate, token_byte_lengths
from lmcore.preparation import encode_held_out


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
    overall, per_corpus = score_files(checkpoint, args.input, args.val_fraction,
                                      batch_size=args.batch_size, max_tokens=args.max_tokens)  # fmt: skip
    emit({**overall.to_dict(), "corpora": {k: r.to_dict() for k, r in per_corpus.items()}})
    return 0


def score_files(
    checkpoint: Checkpoint,
    inputs: list[Path],
    val_fraction: float | None,
    batch_size: int = 32,
    max_tokens: int | None = None,
) -> tuple[EvalResult, dict[str, EvalResult]]:
    """(overall, per file) as `eval` prints them: each file encoded with the checkpoint's
    tokenizer and split as a run with `val_fraction` splits it (lmcore/preparation.py), the
    validation tail scored (the whole text when val_fraction is None). bench/recipe.py reports
    this figure, so the bench and the user's command agree."""
    tokenizer = checkpoint.tokenizer
    byte_lengths = token_byte_lengths(tokenizer.bytes_table(), tokenizer.special_tokens.values())
    per_corpus = {}
    names = [path.name for path in inputs]  # two files of one name: keyed as given
    keys = [str(p) if names.count(p.name) > 1 else p.name for p in inputs]
    with tempfile.TemporaryDirectory(prefix="lmcore-eval-") as tmp:
        for i, path in enumerate(inputs):  # one at a time: the figures per file
            corpus = encode_held_out(tokenizer, [path], Path(tmp) / str(i), val_fraction or 0.0)
            split = corpus.split("val" if val_fraction else "train")
            if checkpoint.train_config.get("bos_token") is None:
                split = split[1:]  # a model from before document boundaries never saw BOS
            per_corpus[keys[i]] = evaluate(checkpoint.model, split, byte_lengths,
                                           batch_size=batch_size, max_tokens=max_tokens)  # fmt: skip
    overall = sum(per_corpus.values(), EvalResult.from_totals(0.0, 0, 0))
    return overall, per_corpus
