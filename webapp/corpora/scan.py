"""Validate an uploaded file as text and measure it, in one streaming pass (the cpu task's work).

Pure Python and numpy, no Django. The file is read in blocks of a few MB: decoded strictly
(UTF-8, or UTF-16/32 when a byte order mark says so, then transcoded), hashed, and counted.
Memory stays flat in the file's size except for one 64-bit hash per line (duplicate lines).

Trade-offs: characters are counted with numpy over UTF-32 code points (several times faster
than `collections.Counter`); duplicate lines are found by 64-bit hashes, not the lines
themselves, so a collision could undercount distinct lines by a negligible amount; a line
longer than `LONG_LINE_CHARS` counts as distinct without being hashed.
"""

from __future__ import annotations

import codecs
import contextlib
import hashlib
import os
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, TypedDict

import numpy as np

from webapp.corpora.sniff import Rejected, binary_error, binary_format, detect_bom, nul_error
from webapp.corpora.sniff import utf8_error as _utf8_error

BLOCK_BYTES = 4 << 20
TOP_CHARACTERS = 1000  # the character table keeps the most frequent ones
LONG_LINE_CHARS = 1 << 20
CONTROL_SHARE_LIMIT = 0.01  # more control characters than this: binary, not text
CODE_POINTS = 0x110000

# Characters `str.split()` splits words on; all of them are below U+3001.
_SPACE = np.zeros(CODE_POINTS, dtype=bool)
_SPACE[[c for c in range(0x3001) if chr(c).isspace()]] = True
# C0 and C1 controls other than tab, newline, vertical tab, form feed and carriage return.
_CONTROL = np.array([c for c in [*range(32), *range(127, 160)] if c not in (9, 10, 11, 12, 13)])

Progress = Callable[[int, int], None]  # (bytes read, file size)


class CorpusStats(TypedDict):
    bytes: int  # UTF-8 bytes of the stored text
    characters: int  # Unicode code points
    lines: int  # newline-terminated lines, plus a last unterminated one
    blank_lines: int  # empty or whitespace only
    words: int  # maximal runs of non-whitespace characters, as str.split() sees them
    distinct_characters: int
    duplicate_line_share: float  # non-blank lines repeating an earlier line ÷ non-blank lines
    char_counts: list[list]  # [[character, count], ...], most frequent first, at most 1000
    scripts: list[list]  # [[script, share of letters], ...]: a language hint
    source_encoding: str  # what the upload was: utf-8, utf-8-sig, utf-16-le, ...


@dataclass
class ScanResult:
    stats: CorpusStats
    sha256: str  # of the stored UTF-8 text
    notice: str  # what was changed on the way in (a byte order mark, an encoding), or ""
    rewritten: bool  # True: the text is in `dst`; False: `src` already is the text, as is


class _Measure:
    """Running counts over decoded text blocks."""

    def __init__(self) -> None:
        self.counts = np.zeros(CODE_POINTS, dtype=np.int64)
        self.words = 0
        self.in_word = False  # the previous block ended inside a word
        self.carry = ""  # the unfinished last line
        self.carry_long = False  # ... which is too long to hash
        self.blank_lines = 0
        self.long_lines = 0
        self.hashes: list[np.ndarray] = []

    def add(self, text: str) -> None:
        if not text:
            return
        points = np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32)  # (n,)
        found = np.bincount(points)  # (max code point + 1,)
        self.counts[: len(found)] += found
        space = _SPACE[points]  # (n,)
        starts = np.count_nonzero(~space[1:] & space[:-1])
        self.words += int(starts) + int(not space[0] and not self.in_word)
        self.in_word = not space[-1]
        lines = text.split("\n")
        lines[0] = self.carry + lines[0]
        self.carry = lines.pop()
        if lines and self.carry_long:
            lines.pop(0)
            self._count_long()
        self._hash_lines(lines)
        if len(self.carry) > LONG_LINE_CHARS:
            self.carry_long, self.carry = True, self.carry[:1]  # keep it non-empty: a line

    def _count_long(self) -> None:
        self.carry_long = False
        self.long_lines += 1

    def _hash_lines(self, lines: list[str]) -> None:
        kept = [line for line in lines if line and not line.isspace()]
        self.blank_lines += len(lines) - len(kept)
        self.hashes.append(np.fromiter(map(hash, kept), dtype=np.int64, count=len(kept)))

    def finish(self) -> dict:
        if self.carry_long:
            self._count_long()
        elif self.carry:
            self._hash_lines([self.carry])
        hashes = np.concatenate(self.hashes) if self.hashes else np.zeros(0, dtype=np.int64)
        non_blank = len(hashes) + self.long_lines
        hashes.sort()  # sorting then counting changes beats np.unique's hash table here
        distinct_lines = int(len(hashes) > 0) + int(np.count_nonzero(hashes[1:] != hashes[:-1]))
        distinct_lines += self.long_lines
        present = np.flatnonzero(self.counts)
        order = present[np.argsort(-self.counts[present], kind="stable")]
        newlines = int(self.counts[10])
        return {
            "characters": int(self.counts.sum()),
            "lines": newlines + int(bool(self.carry)),
            "blank_lines": self.blank_lines,
            "words": self.words,
            "distinct_characters": len(present),
            "duplicate_line_share": (non_blank - distinct_lines) / non_blank if non_blank else 0.0,
            "char_counts": [[chr(c), int(self.counts[c])] for c in order[:TOP_CHARACTERS]],
            "scripts": _scripts(present, self.counts),
            "_control": int(self.counts[_CONTROL].sum()),
            "_space": int(self.counts[_SPACE].sum()),
        }


def _script(char: str) -> str:
    word = unicodedata.name(char, "UNKNOWN").split(" ")[0]
    return {"CJK": "Han (CJK)"}.get(word, word.title())


def _scripts(present: np.ndarray, counts: np.ndarray, top: int = 5) -> list[list]:
    """Share of letters in each writing system: which languages the text may be in."""
    totals: dict[str, int] = {}
    for code in present:
        char = chr(code)
        if unicodedata.category(char).startswith("L"):
            script = _script(char)
            totals[script] = totals.get(script, 0) + int(counts[code])
    letters = sum(totals.values())
    ranked = sorted(totals.items(), key=lambda item: -item[1])[:top]
    return [[name, round(n / letters, 4)] for name, n in ranked if n / letters >= 0.001]


def _encoding_name(encoding: str) -> str:
    return encoding.upper().replace("-LE", " LE").replace("-BE", " BE")


def _decode(
    decoder: codecs.IncrementalDecoder, block: bytes, offset: int, before: bytes, final: bool
) -> str:
    """Decode the block that starts at byte `offset`; Rejected with where it broke.

    `before` is the end of the previous block, to show the text just before a bad byte.
    """
    pending = len(decoder.getstate()[0])
    try:
        return decoder.decode(block, final)
    except UnicodeDecodeError as exc:
        # exc.object is the decoder's pending bytes (the end of `before`) + this block.
        context = before[: len(before) - pending]
        base = offset - pending - len(context)
        if exc.encoding.startswith("utf-8"):
            data = context + exc.object
            raise _utf8_error(
                data, len(context) + exc.start, len(context) + exc.end, base
            ) from None
        raise Rejected(
            f"Not valid {_encoding_name(exc.encoding)} at byte offset "
            f"{base + len(context) + exc.start:,} ({exc.reason}), although the file starts with "
            "that encoding's byte order mark. Re-save it as UTF-8."
        ) from None


def _notice(encoding: str, bom_length: int) -> str:
    if encoding == "utf-8":
        return "Removed the UTF-8 byte order mark at the start of the file." if bom_length else ""
    return f"Transcoded from {_encoding_name(encoding)} (the file starts with its byte order mark) to UTF-8."


def _check_text(measured: dict, source_bytes: int) -> None:
    characters = measured["characters"]
    if characters == 0:
        raise Rejected(
            "The file is empty." if source_bytes == 0 else "The file holds only a byte order mark."
        )
    if measured["_space"] == characters:
        raise Rejected("The file contains only whitespace: there is no text to learn from.")
    if measured["_control"] / characters > CONTROL_SHARE_LIMIT:
        share = measured["_control"] / characters
        raise Rejected(
            f"{share:.1%} of the characters are control codes: this looks like binary data, "
            "not text. Upload plain UTF-8 text."
        )


def scan_file(
    src: Path, dst: Path, on_progress: Progress | None = None, block_bytes: int = BLOCK_BYTES
) -> ScanResult:
    """Validate `src` and measure it; write the text to `dst` when it must change (BOM, encoding).

    Raises Rejected with a message for the user, and then leaves no `dst` behind.
    """
    source_bytes = src.stat().st_size
    with src.open("rb") as f:
        head = f.read(16)
        encoding, bom_length = detect_bom(head)
        what = binary_format(head) if not bom_length else None
        if what:
            raise binary_error(what)
        f.seek(bom_length)
        rewritten = bom_length > 0
        try:
            with dst.open("wb") if rewritten else contextlib.nullcontext() as out:
                measured, sha, out_bytes = _pass(
                    f, encoding, bom_length, out, on_progress, block_bytes
                )
            _check_text(measured, source_bytes)
        except BaseException:
            dst.unlink(missing_ok=True)
            raise
    stats: CorpusStats = {
        "bytes": out_bytes,
        **{k: v for k, v in measured.items() if not k.startswith("_")},
        "source_encoding": "utf-8-sig" if encoding == "utf-8" and bom_length else encoding,
    }
    return ScanResult(stats, sha, _notice(encoding, bom_length), rewritten)


def _pass(
    f: BinaryIO,
    encoding: str,
    offset: int,
    out: BinaryIO | None,
    on_progress: Progress | None,
    block_bytes: int,
) -> tuple[dict, str, int]:
    """The main loop: decode, check, hash, copy (when `out`) and count, block by block."""
    decoder = codecs.getincrementaldecoder(encoding)("strict")
    measure, sha = _Measure(), hashlib.sha256()
    source_bytes = os.fstat(f.fileno()).st_size
    characters = out_bytes = 0
    before = b""
    while True:
        block = f.read(block_bytes)
        text = _decode(decoder, block, offset, before, final=not block)
        if encoding == "utf-8" and (nul := block.find(b"\x00")) >= 0:
            raise nul_error(offset + nul)
        if encoding != "utf-8" and (nul := text.find("\x00")) >= 0:
            raise nul_error(characters + nul, unit="character")
        data = block if encoding == "utf-8" else text.encode("utf-8")
        sha.update(data)
        if out is not None:
            out.write(data)
        measure.add(text)
        characters, out_bytes, offset = (
            characters + len(text),
            out_bytes + len(data),
            offset + len(block),
        )
        before = block[-80:]
        if on_progress:
            on_progress(offset, source_bytes)
        if not block:
            return measure.finish(), sha.hexdigest(), out_bytes
