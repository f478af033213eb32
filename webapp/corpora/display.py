"""What the corpus pages show: statistics with units and definitions, excerpts, characters.

Excerpts read a few KB from the stored file (never the whole file); everything else comes
from `Corpus.stats`, measured once by the validation task.
"""

from __future__ import annotations

import random
import unicodedata
from pathlib import Path
from typing import TypedDict

from webapp.corpora.templatetags.corpora_format import format_percent, plural
from webapp.web.sizes import format_bytes

START_BYTES = 2000
SAMPLE_BYTES = 600
SAMPLES = 3


class StatRow(TypedDict):
    label: str
    value: str  # with its unit
    definition: str  # the tooltip


class Excerpt(TypedDict):
    label: str  # where it is: "Start", or "At 40% (byte 1,234)"
    text: str


class CharacterRow(TypedDict):
    shown: str  # the character, or a label for an invisible one: "SP", "LF", ...
    invisible: bool
    code_point: str  # U+0041
    name: str
    count: int
    share: str  # with its unit


def stat_rows(stats: dict, sha256: str) -> list[StatRow]:
    size, chars = stats["bytes"], stats["characters"]
    scripts = ", ".join(f"{name} {share:.0%}" for name, share in stats["scripts"]) or "–"
    rows = [
        ("Size", format_bytes(size), f"{size:,} bytes of UTF-8 text as stored "
         "(1 kB = 1,000 bytes, 1 MB = 1,000,000 bytes)."),
        ("Characters", plural(chars, "character"), "Unicode code points; an accented "
         "letter written as one code point counts once."),
        ("Bytes per character", f"{size / chars:.3f} bytes/char",
         "UTF-8 bytes ÷ characters: 1.0 for plain ASCII, up to 4."),
        ("Lines", plural(stats["lines"], "line"), "Newline-terminated lines, plus a "
         f"final line without a newline. {stats['blank_lines']:,} of them are blank (empty or "
         "only whitespace)."),
        ("Words", plural(stats["words"], "word"),
         "Runs of characters between whitespace, as Python's str.split() counts them."),
        ("Distinct characters", plural(stats["distinct_characters"], "character"),
         "How many different code points occur at least once."),
        ("Duplicate lines", format_percent(stats["duplicate_line_share"]), "Share of non-blank "
         "lines that repeat an earlier line exactly (percent of non-blank lines)."),
        ("Scripts", scripts, "Share of letters in each writing system (percent of letters): a "
         "hint of the language, not a detection."),
        ("SHA-256", sha256, "Hash of the stored UTF-8 text; the same text uploaded twice has "
         "the same hash and is stored once."),
    ]  # fmt: skip
    return [StatRow(label=label, value=value, definition=d) for label, value, d in rows]


def _decode_from(raw: bytes) -> tuple[int, str]:
    """Text from bytes cut at an arbitrary place, and how many leading bytes were skipped.

    A partial first character (continuation bytes) and a partial last one are dropped.
    """
    start = 0
    while start < len(raw) and start < 4 and (raw[start] & 0xC0) == 0x80:
        start += 1
    return start, raw[start:].decode("utf-8", "ignore")


def excerpts(path: Path, size: int, rng: random.Random | None = None) -> list[Excerpt]:
    """The start of the text and a few places picked at random, each a few hundred bytes."""
    rng = rng or random.Random()
    found: list[Excerpt] = []
    with path.open("rb") as f:
        found.append(Excerpt(label="Start", text=_decode_from(f.read(START_BYTES))[1]))
        if size <= START_BYTES:
            return found
        offsets = sorted(rng.randrange(START_BYTES, size) for _ in range(SAMPLES))
        for offset in offsets:
            f.seek(offset)
            skipped, text = _decode_from(f.read(SAMPLE_BYTES))
            newline = text.find("\n", 0, SAMPLE_BYTES // 3)  # start at a line when one is near
            offset += skipped + len(text[: newline + 1].encode())
            text = text[newline + 1 :]
            found.append(Excerpt(label=f"At {offset / size:.0%} (byte {offset:,})", text=text))
    return found


# Characters that don't show themselves: a short label, and a name where Unicode has none.
_SHOWN = {
    " ": ("SP", "space"),
    "\n": ("LF", "line feed (newline)"),
    "\t": ("TAB", "character tabulation"),
    "\r": ("CR", "carriage return"),
    "\x0b": ("VT", "line tabulation"),
    "\x0c": ("FF", "form feed"),
    "\u00a0": ("NBSP", "no-break space"),
    "\u3000": ("IDSP", "ideographic space"),
}


def character_table(stats: dict, limit: int = 120) -> list[CharacterRow]:
    total = stats["characters"] or 1
    rows = []
    for char, count in stats["char_counts"][:limit]:
        category = unicodedata.category(char)
        invisible = category[0] in "CZ"
        shown, name = _SHOWN.get(char, ("·" if invisible else char, ""))
        share = format_percent(count / total, 2) if count / total >= 5e-5 else "< 0.01 %"
        name = name or unicodedata.name(char, f"<{category}>").lower()
        rows.append(CharacterRow(shown=shown, invisible=invisible, code_point=f"U+{ord(char):04X}",
                                 name=name, count=count, share=share))  # fmt: skip
    return rows
