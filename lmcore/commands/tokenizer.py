"""`python -m lmcore tokenizer train|encode|vocab|trace|stats`.

`train` and `encode` are the public contract (docs/architecture.md, "The lmcore CLI"); `vocab`,
`trace` and `stats` are the inspector's views on the command line. Each prints one JSON object;
token texts are their bytes as UTF-8 with U+FFFD where a token holds part of a character (the
hex is in `vocab`).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from lmcore.cli import emit
from lmcore.documents import VAL_FRACTION
from lmcore.inspect_tokens import file_stats, text_stats, token_text, trace, vocab_entries
from lmcore.preparation import train_held_out_tokenizer
from lmcore.tokenizer import SPECIAL_TOKENS, Tokenizer, TokenizerConfig


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("tokenizer", help="train and inspect byte-level BPE tokenizers")
    commands = parser.add_subparsers(dest="tokenizer_command", required=True)

    train = commands.add_parser("train", help="learn a tokenizer from text files")
    train.add_argument("--input", nargs="+", required=True, type=Path, metavar="F")
    train.add_argument("--vocab-size", type=int, required=True, metavar="N")
    train.add_argument("--min-frequency", type=int, default=2, metavar="K")
    train.add_argument("--special-tokens", nargs="*", default=SPECIAL_TOKENS, metavar="T")
    train.add_argument("--out", type=Path, required=True, metavar="DIR")
    train.add_argument(
        "--val-fraction", type=float, default=VAL_FRACTION, metavar="X",
        help="tail of each file left out, as `train --val-fraction` holds it out for validation",
    )  # fmt: skip
    train.set_defaults(func=cmd_train)

    encode = commands.add_parser("encode", help="ids and tokens of a text")
    _tokenizer_arg(encode)
    encode.add_argument("--text", required=True, metavar="S")
    encode.set_defaults(func=cmd_encode)

    vocab = commands.add_parser("vocab", help="list the vocabulary: id, text, bytes, merge rank")
    _tokenizer_arg(vocab)
    vocab.add_argument("--offset", type=int, default=0, metavar="N")
    vocab.add_argument("--limit", type=int, default=100, metavar="N")
    vocab.set_defaults(func=cmd_vocab)

    trace_ = commands.add_parser("trace", help="a text from single bytes to tokens, merge by merge")
    _tokenizer_arg(trace_)
    trace_.add_argument("--text", required=True, metavar="WORD")
    trace_.set_defaults(func=cmd_trace)

    stats = commands.add_parser("stats", help="bytes per token on files or a text")
    _tokenizer_arg(stats)
    source = stats.add_mutually_exclusive_group(required=True)
    source.add_argument("--input", nargs="+", type=Path, metavar="F")
    source.add_argument("--text", metavar="S")
    stats.set_defaults(func=cmd_stats)


def _tokenizer_arg(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--tokenizer", type=Path, required=True, metavar="DIR",
                        help="a directory holding tokenizer.json, or the file")  # fmt: skip


def cmd_train(args: argparse.Namespace) -> int:
    config = TokenizerConfig(
        vocab_size=args.vocab_size,
        min_frequency=args.min_frequency,
        special_tokens=list(args.special_tokens),
    )
    started = time.perf_counter()
    tokenizer = train_held_out_tokenizer(args.input, config, args.val_fraction)
    seconds = time.perf_counter() - started
    tokenizer.save(args.out)
    stats = file_stats(tokenizer, args.input)  # what the new vocabulary achieves on its corpus
    emit(
        {"vocab_size": tokenizer.vocab_size, "bytes": stats["bytes"], "tokens": stats["tokens"],
         "bytes_per_token": stats["bytes_per_token"], "seconds": round(seconds, 3)}
    )  # fmt: skip
    return 0


def cmd_encode(args: argparse.Namespace) -> int:
    tokenizer = Tokenizer.load(args.tokenizer)
    ids = tokenizer.encode(args.text)
    emit({"ids": ids, "tokens": [token_text(tokenizer, i) for i in ids]})
    return 0


def cmd_vocab(args: argparse.Namespace) -> int:
    tokenizer = Tokenizer.load(args.tokenizer)
    entries = vocab_entries(tokenizer, offset=args.offset, limit=max(args.limit, 0))
    emit({"vocab_size": tokenizer.vocab_size, "offset": args.offset, "entries": entries})
    return 0


def cmd_trace(args: argparse.Namespace) -> int:
    tokenizer = Tokenizer.load(args.tokenizer)
    steps = trace(tokenizer, args.text)

    def texts(ids: list[int]) -> list[str]:
        return [token_text(tokenizer, i) for i in ids]

    rows = [
        {
            "step": s["step"],
            "rank": s["rank"],
            "merge": texts(s["pair"]) if s["pair"] else None,
            "tokens": texts(s["ids"]),
        }  # fmt: skip
        for s in steps
    ]
    emit({"ids": steps[-1]["ids"], "tokens": rows[-1]["tokens"], "steps": rows})
    return 0


def cmd_stats(args: argparse.Namespace) -> int:
    tokenizer = Tokenizer.load(args.tokenizer)
    if args.text is not None:
        emit(dict(text_stats(tokenizer, args.text)))
        return 0
    files = [{"path": str(path), **file_stats(tokenizer, [path])} for path in args.input]
    tokens, n_bytes = sum(f["tokens"] for f in files), sum(f["bytes"] for f in files)
    bpt = round(n_bytes / tokens, 4) if tokens else 0.0
    emit({"bytes": n_bytes, "tokens": tokens, "bytes_per_token": bpt, "files": files})
    return 0
