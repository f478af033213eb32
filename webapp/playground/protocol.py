"""Shape checks of `/ws/playground/` client messages; see consumers.py for the
protocol. Each `parse_*` returns the request as the task takes it or raises `BadMessage`
with a sentence for the person at the keyboard. Sampling settings are validated here with
lmcore's `SamplingParams` (torch-free, in lmcore/config.py), so a bad setting never reaches a
queue; the worker checks them again, as every lmcore caller does.
"""

from __future__ import annotations

import re
from typing import Any, TypedDict

from django.conf import settings

from lmcore.chat import ROLES as CHAT_ROLES
from lmcore.config import SamplingParams
from lmcore.errors import LmcoreError

REQUEST_ID = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
MAX_CHAT_MESSAGES = 64


class BadMessage(ValueError):
    pass


class GenerateRequest(TypedDict):
    request_id: str
    version_ids: list[int]  # one, or two for side by side
    prompt: str
    params: dict[str, Any]
    prefix_ids: list[int]
    chat: list[dict[str, str]] | None
    fit_context: bool  # a chat leaves out its oldest turns when it outgrows the context


class ScoreRequest(TypedDict):
    request_id: str
    version_id: int
    text: str


def request_id(message: dict[str, Any]) -> str:
    value = message.get("request_id")
    if not isinstance(value, str) or not REQUEST_ID.match(value):
        raise BadMessage("request_id must be 1 to 64 letters, digits, '.', '_' or '-'")
    return value


def _version(message: dict[str, Any], field: str) -> int:
    value = message.get(field)
    if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
        raise BadMessage(f"{field} must be a model version id")
    return value


def _text(value: Any, field: str, limit: int) -> str:
    if not isinstance(value, str):
        raise BadMessage(f"{field} must be a string")
    if len(value) > limit:
        raise BadMessage(f"{field} is {len(value):,} characters; the limit is {limit:,}")
    return value


def parse_generate(message: dict[str, Any]) -> GenerateRequest:
    rid = request_id(message)
    versions = [_version(message, "model_version")]
    if message.get("compare") is not None:
        versions.append(_version(message, "compare"))
    limit = settings.PLAYGROUND_MAX_PROMPT_CHARS
    prompt = _text(message.get("prompt", ""), "prompt", limit)
    params = message.get("params", {})
    if not isinstance(params, dict):
        raise BadMessage("params must be an object of sampling settings")
    try:
        SamplingParams.from_dict(params).validate(settings.PLAYGROUND_MAX_NEW_TOKENS)
    except LmcoreError as exc:
        raise BadMessage(str(exc)) from None
    prefix = message.get("prefix_ids", [])
    if (
        not isinstance(prefix, list)
        or len(prefix) > settings.PLAYGROUND_MAX_NEW_TOKENS * 4
        or not all(isinstance(i, int) and not isinstance(i, bool) and i >= 0 for i in prefix)
    ):
        raise BadMessage("prefix_ids must be a list of token ids")
    chat = _chat(message["chat"], limit) if message.get("chat") is not None else None
    return {"request_id": rid, "version_ids": versions, "prompt": prompt, "params": params,
            "prefix_ids": prefix, "chat": chat, "fit_context": chat is not None}  # fmt: skip


def _chat(chat: Any, limit: int) -> list[dict[str, str]]:
    ok = (
        isinstance(chat, list)
        and 0 < len(chat) <= MAX_CHAT_MESSAGES
        and all(
            isinstance(m, dict)
            and m.get("role") in CHAT_ROLES
            and isinstance(m.get("content"), str)
            for m in chat
        )
    )
    if not ok:
        raise BadMessage(
            f"chat must be a list of 1 to {MAX_CHAT_MESSAGES} messages "
            '{"role": "system" | "user" | "assistant", "content": "..."}'
        )
    total = sum(len(m["content"]) for m in chat)
    if total > limit:
        raise BadMessage(f"the conversation is {total:,} characters; the limit is {limit:,}")
    return [{"role": m["role"], "content": m["content"]} for m in chat]


def parse_score(message: dict[str, Any]) -> ScoreRequest:
    rid = request_id(message)
    text = _text(message.get("text"), "text", settings.PLAYGROUND_MAX_SCORE_CHARS)
    if not text:
        raise BadMessage("text is empty: paste something to score")
    return {"request_id": rid, "version_id": _version(message, "model_version"), "text": text}


def parse_resume(message: dict[str, Any]) -> tuple[str, str]:
    last_id = message.get("last_id", "0-0")
    if not isinstance(last_id, str) or not re.match(r"^\d{1,20}-\d{1,20}$", last_id):
        raise BadMessage('last_id must be a stream entry id such as "1700000000000-0"')
    return request_id(message), last_id
