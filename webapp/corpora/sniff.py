"""What a file's first bytes say: its text encoding (by byte order mark) or that it isn't text.

Pure Python, no Django. The web process runs `sniff_head` on an upload's first chunk, so a
PNG or a ZIP is refused after a few MB instead of after the whole file; the validation task
runs the same checks (and the rest) over every byte.

>>> detect_bom(b"\\xff\\xfeh\\x00i\\x00")
('utf-16-le', 2)
"""

from __future__ import annotations

import codecs

from lmcore.conversations import BOMS  # byte order marks, longest first: one table

# Signatures of formats people upload by mistake, named the way the user knows them.
MAGIC: tuple[tuple[bytes, str], ...] = (
    (b"\x89PNG\r\n\x1a\n", "a PNG image"),
    (b"\xff\xd8\xff", "a JPEG image"),
    (b"GIF87a", "a GIF image"),
    (b"GIF89a", "a GIF image"),
    (b"%PDF-", "a PDF document"),
    (b"PK\x03\x04", "a ZIP archive (.docx, .xlsx, .odt and .epub files are ZIP archives too)"),
    (b"\x1f\x8b", "a gzip-compressed file"),
    (b"\xfd7zXZ\x00", "an xz-compressed file"),
    (b"(\xb5/\xfd", "a zstd-compressed file"),
    (b"7z\xbc\xaf\x27\x1c", "a 7-Zip archive"),
    (b"\x7fELF", "a program (ELF executable)"),
    (b"SQLite format 3\x00", "an SQLite database"),
)

HEAD_BYTES = 64 * 1024  # how much of the first chunk the web process checks


class Rejected(Exception):
    """The file is not acceptable text; the message tells the user what to do."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def detect_bom(head: bytes) -> tuple[str, int]:
    """The encoding a byte order mark announces and the mark's length; UTF-8 and 0 without."""
    for bom, encoding in BOMS:
        if head.startswith(bom):
            return encoding, len(bom)
    return "utf-8", 0


def binary_format(head: bytes) -> str | None:
    """The name of a known binary format `head` starts with, or None."""
    for magic, what in MAGIC:
        if head.startswith(magic):
            return what
    return None


def _escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("\n", "\\n").replace("\r", "\\r").replace("\t", "\\t")


def utf8_error(data: bytes, start: int, end: int, base_offset: int) -> Rejected:
    """A message for invalid UTF-8 at `data[start:end]`; `data` starts at byte `base_offset`."""
    bad = data[start : min(end, start + 4)]
    hex_bytes = " ".join(f"{b:02X}" for b in bad)
    before = data[max(0, start - 80) : start].decode("utf-8", "replace")[-24:]
    return Rejected(
        f"Not valid UTF-8: {'byte' if len(bad) == 1 else 'bytes'} {hex_bytes} at offset "
        f"{base_offset + start:,} (just after “{_escape(before)}”). "
        "The file is probably in another encoding, such as Latin-1 or Windows-1252: "
        "re-save it as UTF-8 and upload it again."
    )


def nul_error(offset: int, unit: str = "byte") -> Rejected:
    return Rejected(
        f"The file contains a NUL character at {unit} offset {offset:,}: it looks like binary "
        "data (or UTF-16 without a byte order mark). Upload plain UTF-8 text."
    )


def binary_error(what: str) -> Rejected:
    return Rejected(
        f"This file is {what}, not text. Upload plain UTF-8 text (.txt); convert other "
        "formats to text first."
    )


def sniff_head(head: bytes, complete: bool) -> None:
    """Raise Rejected when the first bytes of a file already show it is not acceptable text.

    `complete` says `head` is the whole file (so a character cut at its end is an error).
    Transcoded encodings (a UTF-16/32 mark) are left to the full validation.
    """
    encoding, bom_length = detect_bom(head)
    if encoding != "utf-8":
        return
    what = binary_format(head)
    if what:
        raise binary_error(what)
    body = head[bom_length:]
    nul = body.find(b"\x00")
    if nul >= 0:
        raise nul_error(bom_length + nul)
    try:
        codecs.getincrementaldecoder("utf-8")("strict").decode(body, final=complete)
    except UnicodeDecodeError as exc:
        raise utf8_error(body, exc.start, exc.end, bom_length) from None
