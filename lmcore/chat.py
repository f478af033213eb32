"""The chat template: one conversation -> token ids and the loss mask, used everywhere.

Fine-tuning, the playground's chat mode, `python -m lmcore chat` and any API render a
conversation with `render` and nothing else, so a model sees at inference exactly the layout
it was trained on:

    <|endoftext|> <|system|> text <|end|> <|user|> text <|end|> <|assistant|> text <|end|> ...

The leading `<|endoftext|>` is the beginning-of-document token every document starts with
(`lmcore.documents`), so a conversation is one document like any other. Message text is
encoded with `Tokenizer.encode`, which never produces a special id: a user who types
"<|assistant|>" gets those characters as ordinary bytes; only this function inserts specials.

The mask marks targets: `mask[i]` is 1 when `ids[i]` is to be predicted and scored, i.e. the
tokens of each assistant message and the `<|end|>` that closes it (so the model learns to
stop). Role tokens, system and user text are context only. Training shifts by one as usual:
inputs ids[:-1], targets ids[1:] where mask[1:] is 1, else -1 (ignored by the loss).

Example: `render(tok, [{"role": "user", "content": "hi"}], generation_prompt=True).ids`
ends with the `<|assistant|>` id, ready for the model to write the reply.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Literal, TypedDict

from lmcore.config import SamplingParams
from lmcore.documents import BOS_TOKEN
from lmcore.errors import LmcoreError
from lmcore.tokenizer import Tokenizer

ROLES = ("system", "user", "assistant")
ROLE_TOKENS = {"system": "<|system|>", "user": "<|user|>", "assistant": "<|assistant|>"}
END_OF_TURN = "<|end|>"
CHAT_TOKENS = (BOS_TOKEN, *ROLE_TOKENS.values(), END_OF_TURN)


class Message(TypedDict):
    role: Literal["system", "user", "assistant"]
    content: str


@dataclass
class Rendered:
    ids: list[int]
    mask: list[int]  # 1 where ids[i] is a target (assistant content and its <|end|>)

    def __len__(self) -> int:
        return len(self.ids)


def check_chat_tokens(tokenizer: Tokenizer) -> None:
    """LmcoreError naming the chat tokens a tokenizer lacks, and how to get them."""
    missing = [t for t in CHAT_TOKENS if t not in tokenizer.special_tokens]
    if missing:
        raise LmcoreError(
            f"the tokenizer lacks the chat tokens {' '.join(missing)}: a chat model needs "
            f"{' '.join(CHAT_TOKENS)}. Train a new tokenizer with the default special tokens "
            "(they include them), train a base model with it, and fine-tune that"
        )


def check_order(messages: Sequence[Message]) -> str | None:
    """Why a list of messages is not a conversation, or None when it is.

    System only first; then user and assistant alternate, starting with the user.
    Example: `check_order([{"role": "assistant", "content": "hi"}])` -> "message 1 ...".
    """
    expected = "user"
    for n, message in enumerate(messages, 1):
        role = message["role"]
        if role == "system" and n == 1:
            continue
        if role == "system":
            return f"message {n} is a system message: a system message may only come first"
        if role != expected:
            return f"message {n} is from the {role}, expected the {expected} (they alternate)"
        expected = "assistant" if role == "user" else "user"
    return None


def render(
    tokenizer: Tokenizer, messages: Sequence[Message], *, generation_prompt: bool = False
) -> Rendered:
    """Ids and loss mask of a conversation; see the module docstring.

    With `generation_prompt`, the conversation must end with a user message and the ids end
    with `<|assistant|>`: the prompt for the model's reply.
    """
    check_chat_tokens(tokenizer)
    problem = check_order(messages)
    if problem:
        raise LmcoreError(f"not a conversation: {problem}")
    if generation_prompt and (not messages or messages[-1]["role"] != "user"):
        raise LmcoreError("a reply needs a conversation that ends with a user message")
    end = tokenizer.special_id(END_OF_TURN)
    ids, mask = [tokenizer.special_id(BOS_TOKEN)], [0]
    for message in messages:
        text = tokenizer.encode(message["content"])
        target = 1 if message["role"] == "assistant" else 0
        ids += [tokenizer.special_id(ROLE_TOKENS[message["role"]]), *text, end]
        mask += [0] + [target] * (len(text) + 1)
    if generation_prompt:
        ids.append(tokenizer.special_id(ROLE_TOKENS["assistant"]))
        mask.append(0)
    return Rendered(ids, mask)


def reply_prompt(tokenizer: Tokenizer, messages: Sequence[Message], context: int) -> list[int]:
    """The ids a model answers from: the conversation rendered with the generation prompt.

    A conversation that fills the model's context is refused rather than cut: dropping the
    oldest turns silently would answer a different conversation than the one shown.
    """
    ids = render(tokenizer, messages, generation_prompt=True).ids
    if len(ids) >= context:
        raise LmcoreError(
            f"the conversation is {len(ids):,} tokens and the model's context is {context:,}: "
            "no room for a reply. Start a new conversation or shorten this one"
        )
    return ids


def reply_params(params: SamplingParams, prompt_tokens: int, context: int) -> SamplingParams:
    """The reply's settings with `max_new_tokens` cut to the room the context leaves after
    the prompt: a reply ends (reason max_new_tokens) when the context is full, rather than
    the generation window sliding the conversation's first turns out of the model's view.

    Example: a 40-token prompt, context 64: at most 24 new tokens, whatever was asked.
    """
    room = max(1, context - prompt_tokens)
    return replace(params, max_new_tokens=min(params.max_new_tokens, room))


def reply_end_ids(tokenizer: Tokenizer) -> list[int]:
    """Ids that end an assistant reply: `<|end|>`, and whatever would start another turn."""
    names = (END_OF_TURN, BOS_TOKEN, *ROLE_TOKENS.values())
    return [tokenizer.special_id(n) for n in names if n in tokenizer.special_tokens]
