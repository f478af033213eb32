"""Document boundaries: every document starts with the beginning-of-text token `<|endoftext|>`.

One convention for all of lmcore. Training data is a stream of documents, each one preceded
by `<|endoftext|>` (BOS); so the model learns what a document's first token looks like
(`p(x1 | BOS)`), and, since the next document's BOS follows the last token of the one
before, when a document ends. Evaluation scores the same stream; scoring a text scores
[BOS] + its ids, so every token of the text has a probability; generation starts from
[BOS] + the prompt, and stops when the model writes BOS again (the document ended: the
sampling option `stop_at_end_of_text`). A chat conversation is a document too
(`lmcore.chat`).

A checkpoint says it follows this convention by `bos_token` in its train config; models
trained before it (no `bos_token`) saw raw text without separators, and for them nothing is
prepended: their first token stays unscored, as it was.

What a document is: a plain text file is one document; a JSONL text corpus
(`{"text": ...}` per line, a name ending in `.jsonl`) holds one document per line.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lmcore.corpus_text import char_boundary, corpus_bytes, iter_text
from lmcore.errors import LmcoreError

BOS_TOKEN = "<|endoftext|>"


def bos_id_for(train_config: dict[str, Any], special_tokens: dict[str, int]) -> int | None:
    """The BOS id a checkpoint's model was trained with, or None for models trained before
    document boundaries (see the module docstring)."""
    name = train_config.get("bos_token")
    return special_tokens.get(name) if isinstance(name, str) else None


VAL_FRACTION = 0.1  # held out of each corpus by default, for tokenizers and runs alike


@dataclass(frozen=True)
class Part:
    """One corpus file's share of a split: bytes [lo, hi) of a text file, or documents
    (non-blank lines) [lo, hi) of a JSONL text corpus."""

    path: Path
    lo: int
    hi: int
    jsonl: bool

    @property
    def name(self) -> str:
        return self.path.name


def is_jsonl(path: Path) -> bool:
    return path.suffix.lower() == ".jsonl"


def split_file(path: Path, val_fraction: float) -> tuple[Part, Part]:
    """(train, validation) parts of one corpus file: the last `val_fraction` of its bytes (a
    text file, cut on a character boundary) or of its documents (JSONL, at least one when the
    fraction is positive and the file holds two or more)."""
    if not 0.0 <= val_fraction < 1.0:
        raise LmcoreError(f"val fraction must be in [0, 1), not {val_fraction}")
    if is_jsonl(path):
        n = sum(1 for _ in iter_jsonl_texts(path))
        held = min(max(round(n * val_fraction), 1 if n >= 2 else 0), n) if val_fraction else 0
        return Part(path, 0, n - held, True), Part(path, n - held, n, True)
    size = corpus_bytes([path])
    cut = char_boundary([path], int(size * (1.0 - val_fraction))) if val_fraction else size
    return Part(path, 0, cut, False), Part(path, cut, size, False)


def split_files(paths: Sequence[Path], val_fraction: float) -> tuple[list[Part], list[Part]]:
    """Train and validation parts of every file: each corpus holds out its own tail."""
    pairs = [split_file(Path(p), val_fraction) for p in paths]
    return [t for t, _ in pairs], [v for _, v in pairs]


def iter_documents(part: Part, on_bytes=None) -> Iterator[Iterator[str]]:
    """Each document of a part, as an iterator of text blocks (a text file: one document)."""
    if not part.jsonl:
        if part.hi > part.lo:
            yield iter_text([part.path], part.lo, part.hi, on_bytes=on_bytes)
        return
    # Every pass reads the whole file, but reports only its own lines' bytes: the train and
    # validation passes of one file add up to the file once, not twice.
    for i, text, size in _jsonl_documents(part.path):
        if part.lo <= i < part.hi:
            if on_bytes is not None:
                on_bytes(size)
            yield iter((text,))


def _jsonl_documents(path: Path) -> Iterator[tuple[int, str, int]]:
    """(index, text, bytes of its line and of the blank lines before it) per document."""
    read = 0

    def count(n: int) -> None:
        nonlocal read
        read += n

    for i, text in enumerate(iter_jsonl_texts(path, count)):
        yield i, text, read
        read = 0


def part_read_bytes(part: Part) -> int:
    """The bytes a pass over the part reports as read (`iter_documents`' on_bytes): a
    progress bar's total."""
    if not part.jsonl:
        return part.hi - part.lo
    return sum(size for i, _, size in _jsonl_documents(part.path) if part.lo <= i < part.hi)


def iter_jsonl_texts(path: Path, on_bytes=None) -> Iterator[str]:
    """The "text" of each non-blank line of a JSONL text corpus; LmcoreError names a bad line."""
    try:
        with path.open("rb") as f:
            for number, raw in enumerate(f, 1):
                if on_bytes is not None:
                    on_bytes(len(raw))
                if not raw.strip():
                    continue
                try:
                    value = json.loads(raw.decode("utf-8"))
                except (UnicodeDecodeError, json.JSONDecodeError) as exc:
                    raise LmcoreError(
                        f"{path.name}: line {number}: not a JSON line ({exc})"
                    ) from None
                if not isinstance(value, dict) or not isinstance(value.get("text"), str):
                    raise LmcoreError(
                        f'{path.name}: line {number}: expected {{"text": "..."}} (one document per line)'
                    )
                yield value["text"]
    except OSError as exc:
        raise LmcoreError(f"{path}: cannot read ({exc.strerror})") from exc


def part_bytes(part: Part) -> int:
    """UTF-8 bytes of a part's text."""
    if not part.jsonl:
        return part.hi - part.lo
    return sum(len(t.encode("utf-8")) for i, t in enumerate(iter_jsonl_texts(part.path))
               if part.lo <= i < part.hi)  # fmt: skip


def iter_training_text(paths: Sequence[Path], val_fraction: float, on_bytes=None) -> Iterator[str]:
    """Blocks of the training text of every file (what a tokenizer may learn from)."""
    for part in split_files(paths, val_fraction)[0]:
        for document in iter_documents(part, on_bytes):
            yield from document
