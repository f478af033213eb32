"""`python -m lmcore merge`: a LoRA checkpoint folded into its base, as a plain checkpoint.

    python -m lmcore merge --checkpoint RUN --out DIR

Prints one JSON object {"out", "params"}. The result no longer needs the base checkpoint:
every weight is W + (alpha / r) B A (lmcore/lora.py), so it samples, exports for
`transformers` and fine-tunes like any checkpoint.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from lmcore.checkpoint import merge_checkpoint
from lmcore.cli import emit


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("merge", help="fold a LoRA adapter into its base model")
    p.add_argument("--checkpoint", type=Path, required=True, metavar="RUN")
    p.add_argument("--out", type=Path, required=True, metavar="DIR")
    p.set_defaults(func=cmd_merge)


def cmd_merge(args: argparse.Namespace) -> int:
    out = merge_checkpoint(args.checkpoint, args.out)
    config = json.loads((out / "config.json").read_text(encoding="utf-8"))
    emit({"out": str(out), "params": config["params"]})
    return 0
