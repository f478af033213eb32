"""OpenAI's response objects built from the playground's stream entries (docs/architecture.md,
"OpenAI-compatible API"): completions with legacy logprobs, chat completions with per-token
logprobs, their streamed chunks, usage.

Log-probabilities are the model's own (`logprob` of a wire token: temperature 1, unfiltered),
the figure score mode reports, whatever sampling settings were asked for. A token's string is
its bytes as UTF-8; a token that ends inside a character is written `bytes:\\xe2\\x80` as OpenAI
does. Alternatives carry the real bytes of their token (the tokenizer's bytes table), never
bytes re-encoded from text with U+FFFD in it. Legacy `top_logprobs` are dicts keyed by that
same string, so distinct bytes never share a key; two tokens with equal bytes (a special
token spelled like a text token) would, and the later one is keyed `STRING#ID`.
`text_offset` counts characters of the prompt (always, as OpenAI does) plus the text before
the token.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field
from typing import Any

FINISH = {"max_new_tokens": "length", "context_full": "length", "stop": "stop",
          "end_of_text": "stop", "cancelled": "stop"}  # fmt: skip


def new_id(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:24]}"


def token_string(hex_bytes: str) -> str:
    raw = bytes.fromhex(hex_bytes)
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return "bytes:" + "".join(f"\\x{b:02x}" for b in raw)


@dataclass
class Usage:
    prompt_tokens: int = 0
    completion_tokens: int = 0

    def to_dict(self) -> dict[str, int]:
        return {"prompt_tokens": self.prompt_tokens, "completion_tokens": self.completion_tokens,
                "total_tokens": self.prompt_tokens + self.completion_tokens}  # fmt: skip


@dataclass
class LegacyLogprobs:
    """`{"tokens", "token_logprobs", "top_logprobs", "text_offset"}` of one completion choice."""

    offset: int  # characters before the next token
    tokens: list[str] = field(default_factory=list)
    token_logprobs: list[float | None] = field(default_factory=list)
    top_logprobs: list[dict[str, float] | None] = field(default_factory=list)
    text_offset: list[int] = field(default_factory=list)

    def add_scored(self, token: dict[str, Any], with_top: bool) -> None:
        """An echoed prompt token from a score result (an unscored first token: null)."""
        scored = token["logprob"] is not None
        top = legacy_top(token.get("top", [])) if with_top and scored else None
        self._add(token, token["logprob"], top)

    def add_generated(self, token: dict[str, Any], with_top: bool) -> None:
        top = legacy_top(token["top"]) if with_top else None
        self._add(token, token["logprob"], top)

    def _add(self, token: dict[str, Any], logprob: float | None, top: Any) -> None:
        self.tokens.append(token_string(token["bytes"]))
        self.token_logprobs.append(logprob)
        self.top_logprobs.append(top)
        self.text_offset.append(self.offset)
        self.offset += len(token["text"])

    def to_dict(self) -> dict[str, Any]:
        return {"tokens": self.tokens, "token_logprobs": self.token_logprobs,
                "top_logprobs": self.top_logprobs, "text_offset": self.text_offset}  # fmt: skip

    def take(self) -> dict[str, Any]:
        """What was added since the last take (a streamed chunk's logprobs), then forget it."""
        out = self.to_dict()
        self.tokens, self.token_logprobs, self.top_logprobs, self.text_offset = [], [], [], []
        return out


def legacy_top(alternatives: list[dict[str, Any]]) -> dict[str, float]:
    """`{token string: logprob}`, one key per alternative (see the module's docstring)."""
    top: dict[str, float] = {}
    for alt in alternatives:
        key = token_string(alt["bytes"])
        top[f"{key}#{alt['id']}" if key in top else key] = alt["logprob"]
    return top


def chat_logprob(token: dict[str, Any]) -> dict[str, Any]:
    """`choices[].logprobs.content[]` of one generated token."""
    top = [{"token": token_string(t["bytes"]), "logprob": t["logprob"],
            "bytes": list(bytes.fromhex(t["bytes"]))} for t in token["top"]]  # fmt: skip
    return {"token": token_string(token["bytes"]), "logprob": token["logprob"],
            "bytes": list(bytes.fromhex(token["bytes"])), "top_logprobs": top}  # fmt: skip


@dataclass
class Envelope:
    """The fields every object of one response shares."""

    object: str
    model: str
    id: str = ""
    created: int = field(default_factory=lambda: int(time.time()))

    def __post_init__(self) -> None:
        self.id = self.id or new_id("chatcmpl" if self.object.startswith("chat") else "cmpl")

    def wrap(self, choices: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
        return {"id": self.id, "object": self.object, "created": self.created,
                "model": self.model, "system_fingerprint": None, "choices": choices,
                **extra}  # fmt: skip
