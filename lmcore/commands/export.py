"""`python -m lmcore export`: a checkpoint as a directory `transformers` loads (lmcore/hf_export.py).

Prints one JSON object {"out", "files", "bytes"}. The directory loads with
`AutoModelForCausalLM.from_pretrained(DIR)` and `AutoTokenizer.from_pretrained(DIR)`, without
`trust_remote_code`.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from lmcore.cli import emit
from lmcore.hf_export import export_hf


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("export", help="write a checkpoint in transformers' format")
    p.add_argument("--checkpoint", type=Path, required=True, metavar="RUN")
    p.add_argument("--out", type=Path, required=True, metavar="DIR")
    p.set_defaults(func=cmd_export)


def cmd_export(args: argparse.Namespace) -> int:
    emit(export_hf(args.checkpoint, args.out))
    return 0
