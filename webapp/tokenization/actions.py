"""Side effects on tokenizer runs: start one, cancel one (views validate, actions act)."""

from __future__ import annotations

from typing import Any

from django.db import transaction

from webapp.limits import policy
from webapp.tokenization.models import TokenizerRun
from webapp.web.enqueue import enqueue


def do_start_tokenizer_run(user: Any, data: dict[str, Any]) -> TokenizerRun:
    with transaction.atomic():
        policy.reserve_job(user)  # LimitExceeded
        run = TokenizerRun.objects.create(
            owner=user,
            name=data["name"],
            vocab_size=data["vocab_size"],
            min_frequency=data["min_frequency"],
            special_tokens=data["special_tokens"],
        )
        run.corpora.set(data["corpora"])
        enqueue("workers.tokenization.train_tokenizer_run", run.pk)
    return run


def do_cancel_tokenizer_run(run: TokenizerRun) -> bool:
    """Queued runs end at once; a running one stops at its next progress report."""
    return run.request_cancel()
