"""Task: train a tokenizer for a TokenizerRun row, then measure it on each of its corpora."""

from __future__ import annotations

import time
from typing import Any

from celery import shared_task

from lmcore.documents import VAL_FRACTION
from lmcore.inspect_tokens import file_stats
from lmcore.preparation import train_held_out_tokenizer
from lmcore.tokenizer import TokenizerConfig
from webapp.jobs.models import JobStatus
from webapp.jobs.reporting import JobReporter
from webapp.tokenization.models import TokenizerRun
from workers.jobs import Cancelled, corpus_paths, run_job

TRAINING_SHARE = 0.8  # of the progress bar; measuring bytes per token per corpus is the rest


@shared_task(name="workers.tokenization.train_tokenizer_run")
def train_tokenizer_run(run_id: int) -> None:
    run_job(TokenizerRun, run_id, _work)


def _work(run: Any, reporter: JobReporter) -> str:
    paths = corpus_paths(run)
    corpora = list(run.corpora.order_by("pk"))
    config = TokenizerConfig(run.vocab_size, run.min_frequency, list(run.special_tokens))
    started = time.perf_counter()

    def on_event(event: dict[str, Any]) -> None:
        if event.get("event") == "progress" and event["bytes_total"]:
            _report(run, reporter, TRAINING_SHARE * event["bytes_read"] / event["bytes_total"])

    # Each corpus's validation tail is left out, as training runs hold it out (lmcore/preparation.py).
    tokenizer = train_held_out_tokenizer(paths, config, VAL_FRACTION, on_event)
    per_corpus = []
    for n, corpus in enumerate(corpora, start=1):
        stats = file_stats(tokenizer, [corpus.path])
        per_corpus.append({"corpus_id": corpus.pk, "name": corpus.name, **stats})
        _report(run, reporter, TRAINING_SHARE + (1 - TRAINING_SHARE) * n / len(corpora))
    tokenizer.save(run.directory)
    total_bytes = sum(p["bytes"] for p in per_corpus)
    total_tokens = sum(p["tokens"] for p in per_corpus)
    run.result = {
        "vocab_size": tokenizer.vocab_size,
        "bytes": total_bytes,
        "tokens": total_tokens,
        "bytes_per_token": round(total_bytes / total_tokens, 4) if total_tokens else 0.0,
        "seconds": round(time.perf_counter() - started, 3),
        "per_corpus": per_corpus,
    }
    run.save(update_fields=["result"])
    return JobStatus.SUCCEEDED


def _report(run: Any, reporter: JobReporter, progress: float) -> None:
    """Progress for the heartbeat thread to store, a push per percent, and the cancel check."""
    if reporter.cancelled.is_set():
        raise Cancelled  # cancel requested, or the row was swept while we worked
    if int(progress * 100) > int(reporter.progress * 100):
        run.progress = reporter.progress = progress
        reporter.push(run.status_event())
