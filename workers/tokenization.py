"""Task: train a tokenizer for a TokenizerRun row, then measure it on each of its corpora."""

from __future__ import annotations

import logging
import time
from typing import Any

from celery import shared_task

from lmcore.documents import VAL_FRACTION
from lmcore.errors import LmcoreError
from lmcore.inspect_tokens import file_stats
from lmcore.tokenizer import TokenizerConfig, train_tokenizer
from workers.reporting import JobReporter

logger = logging.getLogger(__name__)
TRAINING_SHARE = 0.8  # of the progress bar; measuring bytes per token per corpus is the rest


class Cancelled(Exception):
    pass


@shared_task(name="workers.tokenization.train_tokenizer_run")
def train_tokenizer_run(run_id: int) -> None:
    from webapp.jobs.models import JobStatus
    from webapp.tokenization.models import TokenizerRun

    run = TokenizerRun.objects.filter(pk=run_id).first()
    if run is None or not run.mark_running():
        return  # deleted, cancelled while queued, or already taken by another worker
    with JobReporter(run, run.group) as reporter:
        reporter.push(_status(run))
        try:
            run.result = _train(run, reporter)
            run.save(update_fields=["result"])
            run.finish(JobStatus.SUCCEEDED)
        except Cancelled:
            run.finish(JobStatus.CANCELLED)
        except LmcoreError as exc:
            run.finish(JobStatus.FAILED, error=str(exc))
        except Exception as exc:
            logger.exception("tokenizer run %s failed", run_id)
            run.finish(
                JobStatus.FAILED, error=f"internal error ({type(exc).__name__}); see the worker log"
            )
        run.refresh_from_db()
        reporter.push(_status(run))


def _train(run: Any, reporter: JobReporter) -> dict[str, Any]:
    corpora = list(run.corpora.order_by("pk"))
    missing = [c.name for c in corpora if not c.path.exists()]
    if not corpora or missing:
        raise LmcoreError(f"corpus files are missing ({', '.join(missing) or 'none chosen'})")
    config = TokenizerConfig(run.vocab_size, run.min_frequency, list(run.special_tokens))
    started = time.perf_counter()

    def on_event(event: dict[str, Any]) -> None:
        if event.get("event") == "progress" and event["bytes_total"]:
            _report(run, reporter, TRAINING_SHARE * event["bytes_read"] / event["bytes_total"])

    # Each corpus's validation tail is left out, as training runs hold it out (lmcore/documents.py).
    tokenizer = train_tokenizer(
        [c.path for c in corpora], config, on_event=on_event, val_fraction=VAL_FRACTION
    )
    per_corpus = []
    for n, corpus in enumerate(corpora, start=1):
        stats = file_stats(tokenizer, [corpus.path])
        per_corpus.append({"corpus_id": corpus.pk, "name": corpus.name, **stats})
        _report(run, reporter, TRAINING_SHARE + (1 - TRAINING_SHARE) * n / len(corpora))
    tokenizer.save(run.directory)
    total_bytes = sum(p["bytes"] for p in per_corpus)
    total_tokens = sum(p["tokens"] for p in per_corpus)
    return {
        "vocab_size": tokenizer.vocab_size,
        "bytes": total_bytes,
        "tokens": total_tokens,
        "bytes_per_token": round(total_bytes / total_tokens, 4) if total_tokens else 0.0,
        "seconds": round(time.perf_counter() - started, 3),
        "per_corpus": per_corpus,
    }


def _report(run: Any, reporter: JobReporter, progress: float) -> None:
    """Progress for the heartbeat thread to store, a push per percent, and the cancel check."""
    if reporter.cancelled.is_set():
        raise Cancelled  # cancel requested, or the row was swept while we worked
    if int(progress * 100) > int(reporter.progress * 100):
        run.progress = reporter.progress = progress
        reporter.push(_status(run))


def _status(run: Any) -> dict[str, Any]:
    return {"type": "run.status", **run.status_dict()}
