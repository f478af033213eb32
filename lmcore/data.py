"""Corpora on disk: stream UTF-8 text files in chunks, and encode them to token-id arrays.

An encoded corpus is a directory: `train.bin`, `val.bin` (raw little-endian uint16 when the
vocabulary fits in 65,536 ids, else uint32) and `meta.json` (token and byte counts, written
last so a crash never leaves a corpus that looks complete).

The split follows DESIGN §4, as nanoGPT does: the input files are concatenated in order (no
separator) and validation is the last `val_fraction` of the bytes, cut on a character
boundary; train and validation are encoded separately, and each stores the UTF-8 byte count
its tokens decode to (the denominator of bits per byte).

Trade-off: memory stays bounded on any corpus size because text is read in blocks and
encoded in chunks of ~64K characters, but BPE sees each chunk alone. Chunks are therefore cut
only where the GPT-4 split pattern cuts anyway (after a newline followed by a non-space, or
before a space that follows a non-space), so chunked encoding equals whole-text encoding
exactly. Only a run of 64K characters with no such place (e.g. a long unspaced CJK line) is
cut mid-piece, which can change the few tokens at that cut.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from lmcore.errors import LmcoreError

if TYPE_CHECKING:
    from lmcore.tokenizer import Tokenizer

READ_BLOCK_BYTES = 1 << 18
CHUNK_CHARS = 1 << 16  # for encoding; training uses smaller chunks (tokenizer.py)
ENCODE_BATCH_CHUNKS = 32  # chunks per encode_batch call: enough to keep every thread busy
FORMAT_VERSION = 1
SPLITS = ("train", "val")


class Progress:
    """Turns bytes read into throttled {"event": "progress", ...} callbacks (a few per second)."""

    def __init__(self, on_event: Callable[[dict[str, Any]], None] | None, total: int) -> None:
        self.on_event, self.total, self.done, self._last = on_event, total, 0, 0.0

    def advance(self, n: int) -> None:
        self.done += n
        now = time.monotonic()
        if self.on_event is not None and now - self._last >= 0.25:
            self._last = now
            self._emit()

    def finish(self) -> None:
        if self.on_event is not None:
            self._emit()

    def _emit(self) -> None:
        self.on_event({"event": "progress", "bytes_read": self.done, "bytes_total": self.total})


def corpus_bytes(paths: Sequence[Path]) -> int:
    """Total size of the files in bytes; LmcoreError if one is missing or not a file."""
    total = 0
    for path in paths:
        try:
            if not path.is_file():
                raise LmcoreError(f"{path}: not a readable file")
            total += path.stat().st_size
        except OSError as exc:
            raise LmcoreError(f"{path}: cannot read ({exc.strerror})") from exc
    return total


def iter_text(
    paths: Sequence[Path], start: int = 0, end: int | None = None, on_bytes=None
) -> Iterator[str]:
    """Decoded text of bytes [start, end) of the files concatenated, in blocks.

    start and end must fall on character boundaries. Raises LmcoreError naming the file and
    byte offset of the first invalid UTF-8 sequence.
    """
    offset = 0
    for path in paths:
        size = path.stat().st_size
        lo, hi = max(start - offset, 0), min(size, (size if end is None else end - offset))
        if lo < hi:
            yield from _iter_file_text(path, lo, hi, on_bytes)
        offset += size


def _iter_file_text(path: Path, lo: int, hi: int, on_bytes) -> Iterator[str]:
    carry, pos = b"", lo  # pos: file offset of carry's first byte
    try:
        with path.open("rb") as f:
            f.seek(lo)
            while True:
                data = f.read(min(READ_BLOCK_BYTES, hi - pos - len(carry)))
                if on_bytes is not None and data:
                    on_bytes(len(data))
                block, final = carry + data, not data
                try:
                    text, carry = block.decode("utf-8"), b""
                except UnicodeDecodeError as exc:
                    if final or exc.reason != "unexpected end of data":
                        raise LmcoreError(
                            f"{path}: not valid UTF-8 at byte {pos + exc.start} ({exc.reason})"
                        ) from None
                    text, carry = block[: exc.start].decode("utf-8"), block[exc.start :]
                if text:
                    yield text
                pos += len(block) - len(carry)
                if final:
                    return
    except OSError as exc:
        raise LmcoreError(f"{path}: cannot read ({exc.strerror})") from exc


def safe_cut(text: str, limit: int, start: int = 0) -> int:
    """Largest cut in (start, limit] where the GPT-4 split pattern cuts anyway, else limit.

    Example: `safe_cut("ab cd", 4) == 2` (before the space that follows "b").
    """
    i = text.rfind("\n", start, limit)
    while i >= start:  # after "\n" + non-space: no piece runs across (str.isspace ⊇ regex \s)
        if i + 1 < len(text) and not text[i + 1].isspace():
            return i + 1
        i = text.rfind("\n", start, i)
    i = text.rfind(" ", start + 1, limit)
    while i > start:  # before " " after a non-space: no piece ends with a space
        if not text[i - 1].isspace():
            return i
        i = text.rfind(" ", start + 1, i)
    return limit


def iter_chunks(blocks: Iterable[str], target_chars: int = CHUNK_CHARS) -> Iterator[str]:
    """Regroup text blocks into chunks of up to target_chars, cut only at `safe_cut` places."""
    buf = ""
    for block in blocks:
        buf += block
        start = 0  # walk an index: re-slicing buf after every cut would copy it each time
        while len(buf) - start > target_chars:
            cut = safe_cut(buf, start + target_chars, start)
            yield buf[start:cut]
            start = cut
        buf = buf[start:]
    if buf:
        yield buf


def char_boundary(paths: Sequence[Path], offset: int) -> int:
    """The first character boundary at or after a byte offset of the concatenated files."""
    local = offset
    for path in paths:
        size = path.stat().st_size
        if local < size:
            with path.open("rb") as f:
                f.seek(local)
                head = f.read(4)
            # Skip UTF-8 continuation bytes (0b10xxxxxx): a character never starts there.
            return offset + next((i for i, b in enumerate(head) if b & 0xC0 != 0x80), len(head))
        local -= size
    return offset


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
