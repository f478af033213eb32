"""Corpus tasks: validate an uploaded file (cpu queue) and sweep abandoned uploads (beat)."""

from __future__ import annotations

from celery import shared_task

from webapp.jobs.events import EventPublisher


@shared_task(name="workers.corpora.validate_corpus")
def validate_corpus(corpus_id: int) -> str:
    """Validate and measure corpus `corpus_id`; its status says how it went."""
    from webapp.corpora.actions import do_validate_corpus

    with EventPublisher() as publisher:
        corpus = do_validate_corpus(corpus_id, send=publisher.group_send)
    return corpus.status if corpus is not None else "gone"


@shared_task(name="workers.corpora.sweep_abandoned_uploads")
def sweep_abandoned_uploads() -> dict[str, int]:
    """Beat task: delete uploads idle too long, queue again validations whose message was lost."""
    from webapp.corpora.actions import do_sweep_uploads

    with EventPublisher() as publisher:
        return do_sweep_uploads(send=publisher.group_send)
