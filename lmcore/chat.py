"""A conversation as token ids and a loss mask, through the version's chat template.

Fine-tuning, the playground's chat, `python -m lmcore chat` and the API render a conversation
with `render` and nothing else, so a model sees at inference exactly the layout it was trained
on. The template (lmcore/chat_template.py) is the version's own (lmcore/chat_config.py,
`template_for`); without one, lmcore's layout:

    <|endoftext|> <|system|> text <|end|> <|user|> text <|end|> <|assistant|> text <|end|> ...

Special tokens come only from the template's text, never from a message: the render is
traced (`ChatTemplate.trace`), template text is cut at the special tokens it spells
(`Tokenizer.split_specials`) and message text goes through `Tokenizer.encode`, which never
yields a special id; the text between two specials is encoded in one piece, as `transformers`
does, so the ids equal `apply_chat_template(..., tokenize=True)`'s whenever no message spells
a special token. A user who types "<|assistant|>" gets those characters as ordinary bytes.
A template whose output cannot be traced is encoded whole, unless a message spells a special
token: then the conversation is refused rather than let the user forge a turn.

The loss mask, by incremental rendering: each assistant reply is the text between the render
of the messages before it with the generation prompt and the render through it (for lmcore's
layout: the reply and its `<|end|>`, so the model learns to stop). A template for which the
first is not the start of the second, or that is not the start of the whole conversation's
render, is refused with a message. Each piece (before a reply, the reply) is encoded on its
own, so a reply's tokens are those the model writes after its prompt at inference. `mask[i]`
is 1 when `ids[i]` is to be predicted and scored; training shifts by one as usual.

Example: `render(tok, [{"role": "user", "content": "hi"}], generation_prompt=True).ids`
ends with the `<|assistant|>` id, ready for the model to write the reply.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, Literal, TypedDict

from lmcore.chat_config import (
    CHAT_TOKENS,
    END_OF_TURN,
    ROLE_TOKENS,
    carried,
    check_chat_tokens,
    lmcore_template,
    template_for,
)
from lmcore.chat_template import LMCORE_TEMPLATE, ChatTemplate
from lmcore.config import SamplingParams
from lmcore.documents import BOS_TOKEN
from lmcore.errors import LmcoreError
from lmcore.tokenizer import Tokenizer

ROLES = ("system", "user", "assistant")
__all__ = ["CHAT_TOKENS", "END_OF_TURN", "ROLE_TOKENS", "ROLES", "check_chat_tokens"]
NOT_INCREMENTAL = (
    "the chat template cannot mark the replies to learn from: rendering a conversation up to "
    "a reply (with the generation prompt) must give the start of rendering it through the reply, "
    "and that the start of the whole conversation, and here it does not (message {n}). "
    "Fine-tuning needs a template for which it holds"
)
PROBE = [
    {"role": "user", "content": "What is the capital of France?"},
    {"role": "assistant", "content": "Paris."},
    {"role": "user", "content": " And of Italy? "},
    {"role": "assistant", "content": "Rome.\n"},
]


class Message(TypedDict):
    role: Literal["system", "user", "assistant"]
    content: str


@dataclass
class Rendered:
    ids: list[int]
    mask: list[int]  # 1 where ids[i] is a target (an assistant reply, with what ends it)

    def __len__(self) -> int:
        return len(self.ids)


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
    tokenizer: Tokenizer,
    messages: Sequence[Message],
    *,
    generation_prompt: bool = False,
    template: ChatTemplate | None = None,
) -> Rendered:
    """Ids and loss mask of a conversation; see the module docstring. `template`: the
    version's (lmcore/chat_config.py, `template_for`); None: lmcore's layout.

    With `generation_prompt`, the conversation must end with a user message and the ids end
    with the template's generation prompt: the prompt for the model's reply.
    """
    template = template or lmcore_template(tokenizer)
    problem = check_order(messages)
    if problem:
        raise LmcoreError(f"not a conversation: {problem}")
    if generation_prompt and (not messages or messages[-1]["role"] != "user"):
        raise LmcoreError("a reply needs a conversation that ends with a user message")
    now = datetime.now()
    text, pieces = template.trace(messages, generation_prompt, now)
    pieces = _trusted(pieces, text, tokenizer, messages)
    if generation_prompt:
        ids = _encode(tokenizer, pieces)
        return Rendered(ids, [0] * len(ids))
    ids, mask, at = [], [], 0
    for start, end in _reply_spans(template, messages, text, now):
        for lo, hi, target in ((at, start, 0), (start, end, 1)):
            part = _encode(tokenizer, _cut(pieces, lo, hi))
            ids, mask = ids + part, mask + [target] * len(part)
        at = end
    tail = _encode(tokenizer, _cut(pieces, at, len(text)))
    return Rendered(ids + tail, mask + [0] * len(tail))


def check_template(tokenizer: Tokenizer, template: ChatTemplate) -> None:
    """LmcoreError when a template cannot render a short conversation with its loss mask
    (fine-tuning's precondition), saying why."""
    rendered = render(tokenizer, PROBE, template=template)
    if not any(rendered.mask):
        raise LmcoreError("the chat template leaves the replies out of the conversation")
    render(tokenizer, PROBE[:1], generation_prompt=True, template=template)


def finetune_start(
    config: dict[str, Any], tokenizer: Tokenizer
) -> tuple[ChatTemplate, dict[str, Any], str | None]:
    """What fine-tuning a checkpoint (its config.json) takes from it: the template its
    conversations are rendered with (LmcoreError with the reason when it has none or the
    loss mask cannot come from it), what the result carries (chat_config.carried) and the
    beginning-of-text convention it keeps (lmcore/documents.py)."""
    template = template_for(config, tokenizer)
    if template is None and config.get("hf"):
        raise LmcoreError(
            "this model came without a chat template and its tokenizer lacks lmcore's chat "
            f"tokens ({' '.join(CHAT_TOKENS)}): import it with its chat template "
            "(chat_template.jinja, or tokenizer_config.json's chat_template)"
        )
    if template is None:
        check_chat_tokens(tokenizer)  # raises, saying how to get them
    check_template(tokenizer, template)
    bos = (config.get("train") or {}).get("bos_token")
    if bos is None and template.template == LMCORE_TEMPLATE:
        bos = BOS_TOKEN  # lmcore's conversations are documents that start with it
    return template, carried(config, tokenizer), bos


def _reply_spans(
    template: ChatTemplate, messages: Sequence[Message], text: str, now: datetime
) -> list[tuple[int, int]]:
    """(start, end) in `text` of each assistant reply, by incremental rendering."""
    spans, last = [], 0
    for k, message in enumerate(messages):
        if message["role"] != "assistant":
            continue
        prompt = template.render(messages[:k], True, now)
        through = template.render(messages[: k + 1], False, now)
        if not (through.startswith(prompt) and text.startswith(through) and len(prompt) >= last):
            raise LmcoreError(NOT_INCREMENTAL.format(n=k + 1))
        spans.append((len(prompt), len(through)))
        last = len(through)
    return spans


def _trusted(
    pieces: list[tuple[str, bool]] | None, text: str, tokenizer: Tokenizer, messages
) -> list[tuple[str, bool]]:
    """The traced pieces; for an untraceable template the whole text as template text, when
    no message spells a special token (then every special in it is the template's)."""
    if pieces is not None:
        return pieces
    for n, message in enumerate(messages, 1):
        spelt = [t for t in tokenizer.special_tokens if t in message["content"]]
        if spelt:
            raise LmcoreError(
                f"message {n} contains the special token {spelt[0]!r}, and this model's chat "
                "template changes message text in a way Bottega cannot follow, so it could "
                "not keep it as plain text: remove it from the message"
            )
    return [(text, False)]


def _cut(pieces: list[tuple[str, bool]], lo: int, hi: int) -> list[tuple[str, bool]]:
    """The pieces covering characters [lo, hi) of the text they make up."""
    out, at = [], 0
    for text, is_content in pieces:
        a, b = max(lo, at), min(hi, at + len(text))
        if a < b:
            out.append((text[a - at : b - at], is_content))
        at += len(text)
    return out


def _encode(tokenizer: Tokenizer, pieces: list[tuple[str, bool]]) -> list[int]:
    """Ids of traced pieces: specials only from template text, the text between two specials
    encoded in one piece."""
    ids: list[int] = []
    run: list[str] = []
    for text, is_content in pieces:
        for part in [text] if is_content else tokenizer.split_specials(text):
            if isinstance(part, str):
                run.append(part)
                continue
            ids += tokenizer.encode("".join(run)) if run else []
            run = []
            ids.append(part)
    return ids + (tokenizer.encode("".join(run)) if run else [])


def reply_prompt(
    tokenizer: Tokenizer,
    messages: Sequence[Message],
    context: int,
    template: ChatTemplate | None = None,
) -> list[int]:
    """The ids a model answers from: the conversation rendered with the generation prompt.

    A conversation that fills the model's context is refused rather than cut: dropping the
    oldest turns silently would answer a different conversation than the one shown.
    """
    ids = render(tokenizer, messages, generation_prompt=True, template=template).ids
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


def reply_end_ids(tokenizer: Tokenizer, template: ChatTemplate | None = None) -> list[int]:
    """Ids that end an assistant reply: the template's end ids (lmcore's layout: `<|end|>`,
    and whatever would start another turn)."""
    return list((template or lmcore_template(tokenizer)).end_ids)
