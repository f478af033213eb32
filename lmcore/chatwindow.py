"""What of a conversation a chat model sees: the newest turns that fit its context.

A conversation outgrows a model's context as it goes on (a tiny model's is 128 tokens). Chat
UIs then leave the oldest turns out of the prompt, keep the system message, and say so; the
conversation goes on. That is what `fit_conversation` does. The trade-off: the model answers
without the turns left out, so it may forget them; refusing instead (what lmcore did first)
kept the prompt faithful but ended the conversation for good, since every later message only
made it longer. Callers that must not change what they were sent (the OpenAI-compatible API,
whose clients expect a refusal) render the whole conversation instead.

Turns go whole and oldest first: a user message with the replies after it, so what is kept
still starts with a user message, as the template's order requires (`lmcore.chat`). The
caller counts: `count_tokens(messages)` is the length of the prompt the model would get for
those messages (with the generation prompt), under whatever chat template it uses, so this
module needs neither a tokenizer nor torch (the web process may import it).

The reply then has the rest of the context. One that reaches the end of the context before
its `max_new_tokens` ends with the reason `context_full` (`done_reason`), not
`max_new_tokens`: the person asked for more, and the fix is a new or shorter conversation,
not a bigger setting.

Example: with a 64-token context and `room=32`, a conversation whose prompt is 90 tokens
keeps the system message and the newest turns that make at most 32 tokens, and reports how
many messages it left out.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from lmcore.errors import LmcoreError

CONTEXT_FULL = "context_full"  # a done reason: the reply filled the model's context

Conversation = Sequence[Mapping[str, Any]]  # {"role", "content"} dicts (lmcore.chat.Message)


class DoesNotFit(LmcoreError):
    """Even the last message alone (with the system message) leaves no room for a reply."""


@dataclass(frozen=True)
class Fitted:
    messages: list[Mapping[str, Any]]  # the system message, if any, then the newest turns
    dropped: int  # messages left out: the oldest, after the system message
    prompt_tokens: int  # count_tokens(messages)


def reply_room(max_new_tokens: int, context: int) -> int:
    """Tokens a reply is sure to have: what was asked, up to half the context (the other
    half holds the conversation).

    Example: `reply_room(200, 128) == 64`; `reply_room(16, 128) == 16`.
    """
    return max(1, min(max_new_tokens, context // 2))


def fit_conversation(
    messages: Conversation, count_tokens: Callable[[list], int], context: int, room: int
) -> Fitted:
    """The system message and the newest turns whose prompt leaves `room` of `context`
    tokens for the reply; raises DoesNotFit when the last user message alone does not."""
    system = list(messages[:1]) if messages and messages[0]["role"] == "system" else []
    rest = list(messages[len(system) :])
    starts = [i for i, m in enumerate(rest) if m["role"] == "user"] or [0]
    limit = context - room
    for start in starts:  # oldest first: keep as much as fits
        kept = system + rest[start:]
        tokens = count_tokens(kept)
        if tokens <= limit:
            return Fitted(kept, start, tokens)
    what = "the last message with the system message" if system else "the last message alone"
    raise DoesNotFit(
        f"{what} makes a prompt of {tokens:,} tokens; the model's context is {context:,} "
        f"tokens and {room:,} are kept for the reply: shorten it"
    )


def done_reason(reason: str, asked: int, allowed: int) -> str:
    """`context_full` for a reply that used every token the context left it (`allowed`,
    fewer than the `asked` max_new_tokens), else `reason` as the engine gave it.

    Example: `done_reason("max_new_tokens", asked=200, allowed=57) == "context_full"`.
    """
    return CONTEXT_FULL if reason == "max_new_tokens" and allowed < asked else reason
