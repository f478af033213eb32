"""Encoded corpora on disk: text files (streamed by lmcore/corpus_text.py) to token-id arrays.

An encoded corpus is a directory: `train.bin`, `val.bin` (raw little-endian uint16 when the
vocabulary fits in 65,536 ids, else uint32) and `meta.json` (token and byte counts, written
last so a crash never leaves a corpus that looks complete).

The split follows nanoGPT (docs/architecture.md, "Measures"): the input files are concatenated
in order (no separator) and validation is the last `val_fraction` of the bytes, cut on a
character boundary; train and validation are encoded separately, and each stores the UTF-8 byte
count its tokens decode to (the denominator of bits per byte).

Text is encoded in chunks of ~64K characters cut where BPE would cut anyway, so memory stays
bounded and the ids equal whole-text encoding (see lmcore/corpus_text.py for the one
exception and the trade-off).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from lmcore.corpus_text import Progress, char_boundary, corpus_bytes, iter_chunks, iter_text
from lmcore.errors import LmcoreError
from lmcore.tokenizer import Tokenizer

CHUNK_CHARS = 1 << 16  # for encoding; training uses smaller chunks (tokenizer.py)
ENCODE_BATCH_CHUNKS = 32  # chunks per encode_batch call: enough to keep every thread busy
FORMAT_VERSION = 1
SPLITS = ("train", "val")


def dtype_for(vocab_size: int) -> str:
    return "uint16" if vocab_size <= 1 << 16 else "uint32"


@dataclass
class EncodedCorpus:
    directory: Path
    dtype: str  # "uint16" | "uint32"
    vocab_size: int
    train_tokens: int
    val_tokens: int
    train_bytes: int  # UTF-8 bytes the train tokens decode to
    val_bytes: int
    tokenizer_sha256: str = ""  # of tokenizer.json's text: tells a stale cache from a good one

    def split(self, name: str) -> np.ndarray:
        """Token ids of "train" or "val" as a read-only memmap (a plain empty array if empty)."""
        if name not in SPLITS:
            raise LmcoreError(f"unknown split {name!r}: expected one of {SPLITS}")
        path = self.directory / f"{name}.bin"
        if path.stat().st_size == 0:
            return np.empty(0, dtype=self.dtype)  # mmap cannot map an empty file
        return np.memmap(path, dtype=np.dtype(self.dtype).newbyteorder("<"), mode="r")


def tokenizer_digest(tokenizer: Tokenizer) -> str:
    return hashlib.sha256(tokenizer.to_str().encode("utf-8")).hexdigest()


def encode_corpus(
    tokenizer: Tokenizer,
    inputs: Sequence[str | Path],
    out_dir: str | Path,
    val_fraction: float = 0.1,
    on_event: Callable[[dict[str, Any]], None] | None = None,
) -> EncodedCorpus:
    """Encode files to out_dir/{train,val}.bin + meta.json; see the module docstring."""
    paths, out_dir = [Path(p) for p in inputs], Path(out_dir)
    if not 0.0 <= val_fraction < 1.0:
        raise LmcoreError(f"val fraction must be in [0, 1), not {val_fraction}")
    total = corpus_bytes(paths)
    if total == 0:
        raise LmcoreError("empty corpus: the input files hold no text")
    cut = char_boundary(paths, int(total * (1.0 - val_fraction)))
    dtype = dtype_for(tokenizer.vocab_size)
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "meta.json").unlink(missing_ok=True)  # the old corpus is gone from here on
    progress = Progress(on_event, total)
    counts = {
        name: _encode_range(tokenizer, paths, lo, hi, out_dir / f"{name}.bin", dtype, progress)
        for name, lo, hi in (("train", 0, cut), ("val", cut, total))
    }
    progress.finish()
    corpus = EncodedCorpus(
        directory=out_dir, dtype=dtype, vocab_size=tokenizer.vocab_size,
        train_tokens=counts["train"], val_tokens=counts["val"],
        train_bytes=cut, val_bytes=total - cut, tokenizer_sha256=tokenizer_digest(tokenizer),
    )  # fmt: skip
    meta = {"format": FORMAT_VERSION, "val_fraction": val_fraction,
            "inputs": [p.name for p in paths], **_meta_fields(corpus)}  # fmt: skip
    tmp = out_dir / "meta.json.tmp"
    tmp.write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
    tmp.replace(out_dir / "meta.json")
    return corpus


def iter_encoded(
    tokenizer: Tokenizer, paths: Sequence[Path], lo: int = 0, hi: int | None = None, on_bytes=None
) -> Iterator[list[int]]:
    """Ids of bytes [lo, hi) of the concatenated files, one list per chunk, in order."""
    chunks = iter_chunks(iter_text(paths, lo, hi, on_bytes=on_bytes), CHUNK_CHARS)
    for batch in _batched(chunks, ENCODE_BATCH_CHUNKS):
        yield from tokenizer.encode_batch(batch)


def count_tokens(tokenizer: Tokenizer, inputs: Sequence[str | Path]) -> tuple[int, int]:
    """(tokens, bytes) of files concatenated, streamed: the basis of bytes per token."""
    paths = [Path(p) for p in inputs]
    total = corpus_bytes(paths)
    return sum(len(ids) for ids in iter_encoded(tokenizer, paths)), total


def _encode_range(
    tokenizer: Tokenizer, paths: list[Path], lo: int, hi: int, out: Path, dtype: str, progress
) -> int:
    """Encode bytes [lo, hi) of the concatenated files into `out`; returns the token count."""
    tokens = 0
    little = np.dtype(dtype).newbyteorder("<")
    tmp = out.with_suffix(".bin.tmp")
    with tmp.open("wb") as f:
        for ids in iter_encoded(tokenizer, paths, lo, hi, on_bytes=progress.advance):
            np.asarray(ids, dtype=little).tofile(f)
            tokens += len(ids)
    tmp.replace(out)
    return tokens


def _batched(items: Iterable[str], n: int) -> Iterator[list[str]]:
    batch: list[str] = []
    for item in items:
        batch.append(item)
        if len(batch) == n:
            yield batch
            batch = []
    if batch:
        yield batch


_META_FIELDS = ("dtype", "vocab_size", "train_tokens", "val_tokens", "train_bytes", "val_bytes",
                "tokenizer_sha256")  # fmt: skip


def _meta_fields(corpus: EncodedCorpus) -> dict[str, Any]:
    return {name: getattr(corpus, name) for name in _META_FIELDS}


def load_encoded(directory: str | Path) -> EncodedCorpus:
    """Open an encoded corpus directory written by `encode_corpus`."""
    directory = Path(directory)
    try:
        meta = json.loads((directory / "meta.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise LmcoreError(f"{directory}: not an encoded corpus (no readable meta.json)") from exc
    if meta.get("format") != FORMAT_VERSION:
        raise LmcoreError(f"{directory}: unsupported encoded corpus format {meta.get('format')}")
    try:
        corpus = EncodedCorpus(directory=directory, **{k: meta[k] for k in _META_FIELDS})
    except KeyError as exc:
        raise LmcoreError(f"{directory}: meta.json lacks {exc.args[0]!r}") from None
    for name in SPLITS:
        path = directory / f"{name}.bin"
        expected = getattr(corpus, f"{name}_tokens") * np.dtype(corpus.dtype).itemsize
        if not path.is_file() or path.stat().st_size != expected:
            raise LmcoreError(f"{path}: missing or not the size meta.json records")
    return corpus
