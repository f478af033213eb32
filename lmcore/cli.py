"""The `python -m lmcore` command line: a thin layer over the library.

The commands and their output are a public contract (docs/architecture.md, "The lmcore CLI").

Every command prints JSON on stdout (one object, or JSON lines where it streams); errors go to
stderr as one line with a non-zero exit. Commands live in `lmcore/commands/<name>.py`, each
exposing `register(subparsers)` which adds its parser and sets `func(args) -> int`.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import sys
from typing import Any

from lmcore.errors import LmcoreError

# Modules under lmcore/commands/, in the order their commands appear in --help.
COMMAND_MODULES = [
    "tokenizer",
    "train",
    "eval",
    "evaluate",
    "sample",
    "score",
    "anatomy",
    "export",
    "merge",
    "chat",
]


class _Parser(argparse.ArgumentParser):
    """argparse that reports bad flags as one line on stderr and exit status 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        sys.stderr.write(f"error: {self.prog}: {message}\n")
        raise SystemExit(2)


def emit(obj: dict[str, Any]) -> None:
    """Print one JSON object as a line on stdout and flush (streams stay live through pipes).

    A reader that went away (its process died) does not stop the work: later lines go to
    /dev/null, so a training run still reaches its checkpoint (the SIGTERM that follows such a
    death, see workers/child.py, then stops it cleanly)."""
    try:
        sys.stdout.write(json.dumps(obj, ensure_ascii=False) + "\n")
        sys.stdout.flush()
    except BrokenPipeError:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())  # also spares the interpreter's flush at exit


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="python -m lmcore", description=__doc__.splitlines()[0])
    subparsers = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    for name in COMMAND_MODULES:
        importlib.import_module(f"lmcore.commands.{name}").register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except LmcoreError as exc:
        sys.stderr.write(f"error: {exc}\n")
        return 1
    except KeyboardInterrupt:
        sys.stderr.write("error: interrupted\n")
        return 130
