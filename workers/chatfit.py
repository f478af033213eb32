"""The playground's chat prompt: the newest turns that fit the model's context.

The web page sends the whole conversation; `lmcore.chatwindow.fit_conversation` keeps the
system message and the newest turns whose prompt leaves room for the reply, counting tokens
with the version's own chat template (`Loaded.template`, as `prompt_ids` renders), and the page is told how many messages were left out (the
`dropped` stat of the stream's `done`). The API renders what it was sent or refuses it, so
only streams that ask (`fit_context`) are fitted (docs/architecture.md, "Chat").
"""

from __future__ import annotations

from typing import Any


def fit_chat(loaded: Any, stream: Any, params: Any) -> list[dict[str, str]] | None:
    """The messages to render for a `workers.inference.Stream`: its chat as sent, or cut to
    what fits a reply of `params.max_new_tokens` (then `stream.dropped` counts what went)."""
    from lmcore.chat import render
    from lmcore.chatwindow import fit_conversation, reply_room

    if stream.chat is None or not stream.fit_context or loaded.template is None:
        return stream.chat  # (prompt_ids refuses a model without a template)
    context = loaded.model.config.context - len(stream.prefix_ids)  # a branch's tokens follow

    def count(messages: list) -> int:  # the prompt's length, as prompt_ids will render it
        return len(render(loaded.tokenizer, messages, generation_prompt=True,
                          template=loaded.template).ids)  # fmt: skip

    room = reply_room(params.max_new_tokens, context)
    fitted = fit_conversation(stream.chat, count, context, room)
    stream.dropped = fitted.dropped
    return fitted.messages
