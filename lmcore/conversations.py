"""Conversation datasets: JSONL files with one conversation per line, streamed and checked.

The format most tools use (OpenAI's fine-tuning files, Hugging Face chat datasets):

    {"messages": [{"role": "system", "content": "..."}, {"role": "user", "content": "..."},
                  {"role": "assistant", "content": "..."}]}

`iter_conversations` reads a file line by line (memory bounded by one line) and raises
LmcoreError at the first bad line, naming it and the reason: not UTF-8 (or not the UTF-16 /
UTF-32 its byte order mark announces: such a file is read transcoded, as the web's upload
stores it; a UTF-8 mark is skipped), invalid JSON (on the
first line: "not a JSONL file"), not an object with a `messages` list, a missing or unknown
role, content that is not a string or is empty, no assistant turn, roles out of order
(`lmcore.chat.check_order`), a conversation over `Limits`. Blank lines are skipped; other
keys are ignored. `scan` runs it over a whole file and returns the counts a dataset page
shows; a file that holds no conversation is refused too.
"""

from __future__ import annotations

import codecs
import json
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from lmcore.chat import ROLES, Message, check_order
from lmcore.errors import LmcoreError

BLOCK_BYTES = 1 << 16  # read at a time from a transcoded file
# Longest first: the UTF-32 LE mark starts with the UTF-16 LE one (the web upload's sniff too).
BOMS: tuple[tuple[bytes, str], ...] = (
    (codecs.BOM_UTF32_LE, "utf-32-le"),
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)
EXAMPLE = (
    '{"messages": [{"role": "user", "content": "..."}, {"role": "assistant", "content": "..."}]}'
)


@dataclass(frozen=True)
class Limits:
    max_chars: int = 32_000  # characters of content in one conversation
    max_messages: int = 256

    @property
    def max_line_bytes(self) -> int:
        # JSON escapes at most 6 bytes per character ("\\u00e9"), plus the keys around them.
        return 6 * self.max_chars + 64 * self.max_messages + 1024


@dataclass
class Stats:
    conversations: int = 0
    messages: int = 0
    user_messages: int = 0
    assistant_messages: int = 0
    system_messages: int = 0
    chars: int = 0

    def add(self, messages: list[Message]) -> None:
        self.conversations += 1
        self.messages += len(messages)
        for m in messages:
            key = f"{m['role']}_messages"
            setattr(self, key, getattr(self, key) + 1)
            self.chars += len(m["content"])

    def to_dict(self) -> dict[str, int]:
        return asdict(self)


def parse_messages(value: Any, limits: Limits = Limits(), *, need_assistant: bool = True):
    """The messages of one conversation object, or ValueError with the reason."""
    if not isinstance(value, dict) or not isinstance(value.get("messages"), list):
        got = type(value).__name__ if not isinstance(value, dict) else "no messages list"
        raise ValueError(f'expected an object with a "messages" list ({got})')
    raw = value["messages"]
    if not raw:
        raise ValueError('"messages" is empty')
    if len(raw) > limits.max_messages:
        raise ValueError(f"{len(raw)} messages, over the limit of {limits.max_messages}")
    messages: list[Message] = []
    for n, m in enumerate(raw, 1):
        if not isinstance(m, dict) or "role" not in m:
            raise ValueError(f"message {n} has no role")
        if m["role"] not in ROLES:
            raise ValueError(f"message {n} has an unknown role {m['role']!r} (expected "
                             f"{', '.join(ROLES)})")  # fmt: skip
        if not isinstance(m.get("content"), str):
            raise ValueError(f"message {n}: content must be a string, not "
                             f"{type(m.get('content')).__name__}")  # fmt: skip
        if not m["content"].strip():
            raise ValueError(f"message {n}: content is empty")
        messages.append({"role": m["role"], "content": m["content"]})
    if need_assistant and not any(m["role"] == "assistant" for m in messages):
        raise ValueError("no assistant message: nothing to learn from")
    problem = check_order(messages)
    if problem:
        raise ValueError(f"roles out of order: {problem}")
    chars = sum(len(m["content"]) for m in messages)
    if chars > limits.max_chars:
        raise ValueError(f"conversation of {chars:,} characters, over the limit of "
                         f"{limits.max_chars:,}")  # fmt: skip
    return messages


def iter_conversations(
    path: str | Path, limits: Limits = Limits(), on_bytes: Callable[[int], None] | None = None
) -> Iterator[tuple[int, list[Message]]]:
    """(line number, messages) of each conversation in a JSONL file; see the module docstring."""
    path = Path(path)
    try:
        with path.open("rb") as f:
            for number, raw in enumerate(_utf8_lines(f, limits, on_bytes), 1):
                messages = _parse_line(raw, number, limits)
                if messages is not None:
                    yield number, messages
    except OSError as exc:
        raise LmcoreError(f"{path.name}: cannot read ({exc.strerror})") from exc


def _utf8_lines(f, limits: Limits, on_bytes) -> Iterator[bytes]:
    """The file's lines as UTF-8 bytes: read as they are, or transcoded from the encoding a
    byte order mark announces (the mark itself skipped, and counted in on_bytes)."""
    head = f.read(4)
    encoding, mark = next(((e, len(b)) for b, e in BOMS if head.startswith(b)), ("utf-8", 0))
    f.seek(mark)
    if on_bytes is not None and mark:
        on_bytes(mark)
    if encoding == "utf-8":
        for raw in iter(lambda: f.readline(limits.max_line_bytes + 1), b""):
            if on_bytes is not None:
                on_bytes(len(raw))
            yield raw
        return
    yield from _transcoded_lines(f, encoding, limits, on_bytes)


def _transcoded_lines(f, encoding: str, limits: Limits, on_bytes) -> Iterator[bytes]:
    """Lines of a UTF-16/32 file as UTF-8 bytes, decoded in blocks; an undecodable byte is
    refused with the number of the line it is on."""
    decoder = codecs.getincrementaldecoder(encoding)("strict")
    done, pending = 0, ""  # lines yielded; the text after the last newline
    while True:
        block = f.read(BLOCK_BYTES)
        try:
            pending += decoder.decode(block, final=not block)
        except UnicodeDecodeError as exc:
            before = pending + exc.object[: exc.start].decode(encoding, "replace")
            name = encoding.upper().replace("-LE", " LE").replace("-BE", " BE")
            raise LmcoreError(
                f"line {done + before.count(chr(10)) + 1}: not valid {name} ({exc.reason}), "
                "although the file starts with that encoding's byte order mark. Re-save it as "
                "UTF-8"
            ) from None
        *lines, pending = pending.split("\n")
        if not block and pending:
            lines.append(pending)  # the last line, unterminated
        for i, line in enumerate(lines):
            text = line if not block and i == len(lines) - 1 and pending else line + "\n"
            if on_bytes is not None:
                on_bytes(len(text.encode(encoding)))
            done += 1
            yield text.encode("utf-8")
        if not block:
            return
        if len(pending) > limits.max_line_bytes:  # one line, longer than any allowed
            yield pending.encode("utf-8")  # _parse_line refuses it with its number


def _parse_line(raw: bytes, number: int, limits: Limits) -> list[Message] | None:
    if len(raw) > limits.max_line_bytes:
        raise LmcoreError(f"line {number}: longer than {limits.max_line_bytes:,} bytes, over "
                          f"the conversation limit of {limits.max_chars:,} characters")  # fmt: skip
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise LmcoreError(f"line {number}: not valid UTF-8 at byte {exc.start} of the line; "
                          "a conversation file must be UTF-8 text") from None  # fmt: skip
    if not text.strip():
        return None
    try:
        value = json.loads(text.rstrip("\r\n"))
    except json.JSONDecodeError as exc:
        if number == 1 and "\x00" in text:
            raise LmcoreError("not a JSONL file: line 1 holds NUL characters, as UTF-16 or "
                              "UTF-32 text without a byte order mark does. Re-save it as UTF-8 "
                              "(or with a byte order mark)") from None  # fmt: skip
        if number == 1:
            raise LmcoreError(f"not a JSONL file: line 1 is not JSON ({exc.msg}). Each line "
                              f"must be one conversation, e.g. {EXAMPLE}") from None  # fmt: skip
        raise LmcoreError(
            f"line {number}: invalid JSON ({exc.msg} at column {exc.colno})"
        ) from None
    try:
        return parse_messages(value, limits)
    except ValueError as exc:
        raise LmcoreError(f"line {number}: {exc}") from None


def scan(
    path: str | Path, limits: Limits = Limits(), on_bytes: Callable[[int], None] | None = None
) -> Stats:
    """Check every line of a conversation file and count; LmcoreError at the first problem."""
    stats = Stats()
    for _, messages in iter_conversations(path, limits, on_bytes):
        stats.add(messages)
    if stats.conversations == 0:
        raise LmcoreError(f"no conversations: the file is empty. Each line must be one "
                          f"conversation, e.g. {EXAMPLE}")  # fmt: skip
    return stats
