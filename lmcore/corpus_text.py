"""Text of corpus files, streamed: bounded memory on any corpus size, for training and encoding.

The input files of a corpus are read as one concatenation, in blocks (`iter_text`), and the
text is regrouped into chunks for the tokenizer (`iter_chunks`). BPE sees each chunk alone,
so chunks are cut only where the GPT-4 split pattern (lmcore/tokenizer.py) cuts anyway: after
a newline followed by a non-space, or before a space that follows a non-space (`safe_cut`).
Chunked encoding then equals whole-text encoding exactly. Only a run of `target_chars` with
no such place (e.g. a long unspaced CJK line) is cut mid-piece, which can change the few
tokens at that cut: the trade-off for bounded memory.

`Progress` turns bytes read into throttled progress events for callers that report them.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

from lmcore.errors import LmcoreError

READ_BLOCK_BYTES = 1 << 18


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


def iter_chunks(blocks: Iterable[str], target_chars: int) -> Iterator[str]:
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
