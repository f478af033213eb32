"""A conversation dataset's page: its counts, token counts under a chosen tokenizer, and a few
conversations shown as a chat.

Token counts render each conversation with lmcore's chat template (lmcore/chat.py), exactly
as fine-tuning will, in the web process (the tokenizer is cached per process by the
inspector); to keep a page fast on a large dataset they cover the first `COUNT_LIMIT`
conversations and say so.
"""

from __future__ import annotations

import itertools
from typing import Any

from django.conf import settings
from django.http import HttpRequest

from lmcore.chat import check_chat_tokens, render
from lmcore.conversations import Limits, iter_conversations
from lmcore.errors import LmcoreError
from webapp.corpora.models import Corpus
from webapp.tokenization import inspector
from webapp.tokenization.models import TokenizerRun

COUNT_LIMIT = 20_000
SHOWN = 5


def chosen_tokenizer(request: HttpRequest) -> TokenizerRun | None:
    """The tokenizer picked on the page (?tokenizer=<id>), if it is the user's and usable."""
    try:
        pk = int(request.GET.get("tokenizer", ""))
    except ValueError:
        return None
    return TokenizerRun.objects.for_user(request.user).usable().filter(pk=pk).first()


def dataset_context(corpus: Corpus, tokenizer: TokenizerRun | None) -> dict[str, Any]:
    counts = corpus.stats.get("conversations", {})
    limits = Limits(max_chars=settings.CONVERSATION_MAX_CHARS)
    shown = [m for _, m in itertools.islice(iter_conversations(corpus.path, limits), SHOWN)]
    context = {
        "dataset": counts,
        "shown_conversations": shown,
        "tokenizers": TokenizerRun.objects.for_user(corpus.owner).usable(),
        "chosen_tokenizer": tokenizer,
    }
    if tokenizer is not None:
        context.update(token_counts(corpus, tokenizer, limits))
    return context


def token_counts(corpus: Corpus, run: TokenizerRun, limits: Limits) -> dict[str, Any]:
    """Tokens of the rendered conversations, and how many are the assistant's (the targets)."""
    if run.missing_file:
        return {"token_error": run.missing_file}
    tokenizer = inspector.load(run)
    try:
        check_chat_tokens(tokenizer)
    except LmcoreError as exc:
        return {"token_error": str(exc)}
    total = targets = longest = counted = 0
    for _, messages in itertools.islice(iter_conversations(corpus.path, limits), COUNT_LIMIT):
        rendered = render(tokenizer, messages)
        total, targets = total + len(rendered.ids), targets + sum(rendered.mask)
        longest, counted = max(longest, len(rendered.ids)), counted + 1
    return {"token_stats": {"tokens": total, "targets": targets, "longest": longest,
                            "counted": counted, "partial": counted < counts_of(corpus)}}  # fmt: skip


def counts_of(corpus: Corpus) -> int:
    return int(corpus.stats.get("conversations", {}).get("conversations", 0))
