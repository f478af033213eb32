"""The checks on a conversation the page saves (api.py), and the bounds that keep one small.

`clean_conversation(user, payload)` returns the model fields or raises `BadMessage` with a
sentence for the person at the keyboard. Token records are checked field by field, not
stored as sent: the page draws them again, so a saved row must hold what the engine could
have produced (ids, hex bytes, finite log-probabilities, at most MAX_TOP_LOGPROBS
alternatives), and nothing else.
"""

from __future__ import annotations

import math
import re
from typing import Any

from django.conf import settings

from lmcore.chat import ROLES as CHAT_ROLES
from lmcore.chat import check_order
from lmcore.config import MAX_TOP_LOGPROBS, SamplingParams
from lmcore.errors import LmcoreError
from webapp.playground.access import can_play
from webapp.playground.models import ConversationMode
from webapp.playground.protocol import BadMessage
from webapp.registry.models import ModelVersion

MAX_CONVERSATION_BYTES = 1_000_000  # one request body; the page drops alternatives to fit
MAX_CONVERSATIONS = 500  # per user: delete some to save more
MAX_MESSAGES = 200  # chat messages kept; a request sends at most the last 64
MAX_TITLE_CHARS = 200
TITLE_CHARS = 60  # a title made from the first message
HEX = re.compile(r"^(?:[0-9a-f]{2}){0,256}$")
TOKEN_FIELDS = ("id", "bytes", "text", "logprob", "sample_logprob", "top")


def clean_conversation(user: Any, payload: dict[str, Any]) -> dict[str, Any]:
    mode = payload.get("mode")
    if mode not in ConversationMode.values:
        raise BadMessage(f"mode must be one of {', '.join(ConversationMode.values)}")
    if mode == ConversationMode.CHAT:
        messages = _chat(payload.get("messages"))
    else:
        messages = _completion(payload.get("messages"))
    title = payload.get("title") or _title(messages)
    if not isinstance(title, str) or len(title) > MAX_TITLE_CHARS:
        raise BadMessage(f"title must be a string of at most {MAX_TITLE_CHARS} characters")
    return {"mode": mode, "messages": messages, "title": title,
            "params": _params(payload.get("params", {})),
            "model_version": _version(user, payload.get("model_version"))}  # fmt: skip


def _version(user: Any, pk: Any) -> ModelVersion | None:
    if pk is None:
        return None  # the version was deleted since; the page asks for another
    if not isinstance(pk, int) or isinstance(pk, bool) or not can_play(user, [pk]):
        raise BadMessage("no such model version, or it is not yours to use")
    return ModelVersion.objects.get(pk=pk)


def _params(params: Any) -> dict[str, Any]:
    if not isinstance(params, dict):
        raise BadMessage("params must be an object of sampling settings")
    try:
        SamplingParams.from_dict(params).validate(settings.PLAYGROUND_MAX_NEW_TOKENS)
    except LmcoreError as exc:
        raise BadMessage(str(exc)) from None
    return params


def _chat(messages: Any) -> list[dict[str, str]]:
    ok = (
        isinstance(messages, list)
        and len(messages) <= MAX_MESSAGES
        and all(
            isinstance(m, dict) and m.get("role") in CHAT_ROLES and isinstance(m.get("content"), str)
            for m in messages
        )
    )  # fmt: skip
    if not ok:
        raise BadMessage(
            f"a chat's messages must be a list of at most {MAX_MESSAGES} "
            '{"role": "system" | "user" | "assistant", "content": "..."}'
        )
    problem = check_order(messages)  # e.g. a refused message kept in: it could not go on
    if problem:
        raise BadMessage(f"not a conversation: {problem}")
    return [{"role": m["role"], "content": m["content"]} for m in messages]


def _completion(messages: Any) -> list[dict[str, Any]]:
    shape = '[{"role": "prompt", "content"}, then 1 or 2 {"role": "completion", ...}]'
    if (
        not isinstance(messages, list)
        or not 1 <= len(messages) <= 3
        or not all(isinstance(m, dict) for m in messages)
        or messages[0].get("role") != "prompt"
        or not isinstance(messages[0].get("content"), str)
        or any(m.get("role") != "completion" for m in messages[1:])
    ):
        raise BadMessage(f"a completion's messages must be {shape}")
    return [{"role": "prompt", "content": messages[0]["content"]}] + [
        _column(m) for m in messages[1:]
    ]


def _column(m: dict[str, Any]) -> dict[str, Any]:
    tokens = m.get("tokens", [])
    limit = settings.PLAYGROUND_MAX_NEW_TOKENS * 4 + 1  # a branch keeps its prefix
    if not isinstance(tokens, list) or len(tokens) > limit:
        raise BadMessage(f"a completion holds at most {limit:,} tokens")
    stats = m.get("stats", {})
    if not isinstance(stats, dict) or not all(
        isinstance(k, str) and (v is None or _number(v)) for k, v in stats.items()
    ):
        raise BadMessage("a completion's stats must map names to numbers")
    fields = {"title": m.get("title", ""), "content": m.get("content", ""),
              "reason": m.get("reason", "")}  # fmt: skip
    if not all(isinstance(v, str) and len(v) <= 100_000 for v in fields.values()):
        raise BadMessage("a completion's title, content and reason must be strings")
    return {"role": "completion", **fields, "stats": stats, "tokens": [_token(t) for t in tokens]}


def _token(t: Any) -> dict[str, Any]:
    top = t.get("top", []) if isinstance(t, dict) else None
    ok = (
        isinstance(t, dict)
        and _token_id(t.get("id"))
        and isinstance(t.get("bytes"), str) and HEX.match(t["bytes"])
        and isinstance(t.get("text"), str) and len(t["text"]) <= 1024
        and _logprob(t.get("logprob")) and _logprob(t.get("sample_logprob"))
        and isinstance(top, list) and len(top) <= MAX_TOP_LOGPROBS
        and all(isinstance(a, dict) and _token_id(a.get("id")) and isinstance(a.get("text"), str)
                and len(a["text"]) <= 1024 and _logprob(a.get("logprob"))
                and _logprob(a.get("sample_logprob")) for a in top)
    )  # fmt: skip
    if not ok:
        raise BadMessage(
            'each token must be {"id", "bytes" (hex), "text", "logprob", "sample_logprob", '
            f'"top": at most {MAX_TOP_LOGPROBS} alternatives}}, as the server sent it'
        )
    alternatives = [{k: a[k] for k in ("id", "text", "logprob", "sample_logprob")} for a in top]
    return {**{k: t.get(k) for k in TOKEN_FIELDS[:-1]}, "top": alternatives}


def _token_id(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _logprob(value: Any) -> bool:
    return value is None or (_number(value) and value <= 0)


def _title(messages: list[dict[str, Any]]) -> str:
    """The first prompt or user message, on one line: `_title([{"role": "user", "content":
    "hi\\nthere"}])` → "hi there"."""
    first = next((m["content"] for m in messages if m["role"] in ("prompt", "user")), "")
    line = " ".join(first.split())
    if not line:
        return "Untitled"
    return line if len(line) <= TITLE_CHARS else line[: TITLE_CHARS - 1].rstrip() + "…"
