"""Document boundaries: every document starts with the beginning-of-text token `<|endoftext|>`.

One convention for all of lmcore. Training data is a stream of documents, each one preceded
by `<|endoftext|>` (BOS); so the model learns what a document's first token looks like
(`p(x1 | BOS)`), and, since the next document's BOS follows the last token of the one
before, when a document ends. Evaluation scores the same stream; scoring a text scores
[BOS] + its ids, so every token of the text has a probability; generation starts from
[BOS] + the prompt, and stops when the model writes BOS again (the document ended: the
sampling option `stop_at_end_of_text`). A chat conversation is a document too
(`lmcore.chat`).

A checkpoint says it follows this convention by `bos_token` in its train config; models
trained before it (no `bos_token`) saw raw text without separators, and for them nothing is
prepended: their first token stays unscored, as it was.

What a document is: a plain text file is one document; a JSONL text corpus
(`{"text": ...}` per line, a name ending in `.jsonl`) holds one document per line.
"""

from __future__ import annotations

from typing import Any

BOS_TOKEN = "<|endoftext|>"


def bos_id_for(train_config: dict[str, Any], special_tokens: dict[str, int]) -> int | None:
    """The BOS id a checkpoint's model was trained with, or None for models trained before
    document boundaries (see the module docstring)."""
    name = train_config.get("bos_token")
    return special_tokens.get(name) if isinstance(name, str) else None
