"""`python -m lmcore score`: how likely a checkpoint finds a text, token by token.

Prints one JSON object {"tokens": [{"text", "logprob"}], "total_logprob", "bits", "bpb"}:
logprob = ln p(token | the tokens before it), natural log; total_logprob their sum; bits =
-total_logprob / ln 2; bpb = bits per UTF-8 byte of the scored tokens. Every token is scored,
the first one given the beginning-of-text token (lmcore/documents.py); for a model trained
before document boundaries the first token's logprob is null and the totals cover the others.
Token texts are UTF-8 safe and join to the whole text.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from lmcore.checkpoint import load_checkpoint
from lmcore.cli import emit
from lmcore.device import DEVICES, configure, resolve_device
from lmcore.documents import bos_id_for
from lmcore.errors import LmcoreError
from lmcore.score import score

MAX_SCORE_CHARS = 1_000_000  # a guard against pasting a corpus: score mode is for passages


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("score", help="per-token log-probabilities of a text")
    p.add_argument("--checkpoint", type=Path, required=True, metavar="RUN")
    p.add_argument("--text", required=True, metavar="S")
    p.add_argument("--device", choices=DEVICES, default="auto")
    p.set_defaults(func=cmd_score)


def cmd_score(args: argparse.Namespace) -> int:
    if len(args.text) > MAX_SCORE_CHARS:
        raise LmcoreError(
            f"text of {len(args.text):,} characters is over the {MAX_SCORE_CHARS:,} limit; "
            "use `lmcore eval` for whole files"
        )
    device = resolve_device(args.device)
    configure(device)
    checkpoint = load_checkpoint(args.checkpoint, device)
    tokenizer = checkpoint.tokenizer
    result = score(
        checkpoint.model, tokenizer.bytes_table(), tokenizer.encode(args.text),
        bos_id=bos_id_for(checkpoint.train_config, tokenizer.special_tokens),
    )  # fmt: skip
    emit({
        "tokens": [{"text": t["text"], "logprob": t["logprob"]} for t in result["tokens"]],
        "total_logprob": result["total_logprob"], "bits": result["bits"], "bpb": result["bpb"],
    })  # fmt: skip
    return 0
