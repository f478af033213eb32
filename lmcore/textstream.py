"""UTF-8-safe streaming of token bytes as text, with stop strings matched across tokens.

A byte-level BPE token may end inside a multi-byte character (an emoji is often two or three
tokens). `TextStream.push(token_bytes)` returns only text that is complete: bytes of a cut
character wait for the token that completes them, so a client never shows a half character
and then has to take it back. Bytes that can never form UTF-8 become U+FFFD exactly where
`bytes.decode("utf-8", errors="replace")` puts them, so, with no stop string,

    "".join(stream.push(b) for b in token_bytes) + stream.flush()
        == b"".join(token_bytes).decode("utf-8", errors="replace")   # == Tokenizer.decode(ids)

Stop strings are matched on that text, so they are found whatever the token boundaries.
Text that could be the start of a stop string is held back until the next token rules it in
or out; when a stop string completes, the text before it is released and the stream ends
(the stop string itself is never shown, as in the OpenAI API). The trade-off: with stop
strings, up to `max(len(stop)) - 1` characters reach the client one token late.

Example: `TextStream().push("é".encode()[:1]) == ""`, then `.push("é".encode()[1:]) == "é"`.
"""

from __future__ import annotations

import codecs
from collections.abc import Sequence


class TextStream:
    """Token bytes in, releasable text out; see the module docstring."""

    def __init__(self, stop: Sequence[str] = ()) -> None:
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._stop = [s for s in stop if s]
        self._held = ""  # decoded text that may begin a stop string
        self.stopped = False  # a stop string was found; push/flush release nothing more

    def push(self, data: bytes) -> str:
        """Add one token's bytes; return the text that is now safe to show."""
        if self.stopped:
            return ""
        return self._release(self._held + self._decoder.decode(data))

    def flush(self) -> str:
        """End of the stream: release what is held (a cut character becomes U+FFFD)."""
        if self.stopped:
            return ""
        text, self._held = self._held + self._decoder.decode(b"", final=True), ""
        cut = self._first_stop(text)  # the final U+FFFD could complete a stop string
        if cut is not None:
            self.stopped = True
            return text[:cut]
        return text

    def _release(self, text: str) -> str:
        cut = self._first_stop(text)
        if cut is not None:
            self.stopped, self._held = True, ""
            return text[:cut]
        hold = self._prefix_hold(text)
        self._held = text[len(text) - hold :]
        return text[: len(text) - hold]

    def _first_stop(self, text: str) -> int | None:
        found = [i for i in (text.find(s) for s in self._stop) if i >= 0]
        return min(found) if found else None

    def _prefix_hold(self, text: str) -> int:
        """Length of the longest suffix of text that is a proper prefix of a stop string."""
        hold = 0
        for s in self._stop:
            for k in range(min(len(s) - 1, len(text)), hold, -1):
                if text.endswith(s[:k]):
                    hold = k
                    break
        return hold


def token_texts(pieces: Sequence[bytes]) -> list[str]:
    """The text each token releases in a stream over `pieces`; the last one takes the flush.

    Example: `token_texts([b"\\xc3", b"\\xa9!"]) == ["", "é!"]`; joined they equal the
    decoded whole.
    """
    stream = TextStream()
    texts = [stream.push(p) for p in pieces]
    if texts:
        texts[-1] += stream.flush()
    return texts
