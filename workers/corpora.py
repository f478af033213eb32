"""Corpus tasks: validate an uploaded file (cpu queue) and sweep abandoned uploads (beat)."""

from __future__ import annotations

from celery import shared_task

from workers.events import EventPublisher


@shared_task(name="workers.corpora.validate_corpus")
def validate_corpus(corpus_id: int) -> str:
    """Validate and measure corpus `corpus_id`; its status says how it went."""
    from webapp.corpora.actions import do_validate_corpus

    with EventPublisher() as publisher:
        corpus = do_validate_corpus(corpus_id, send=publisher.group_send)
    return corpus.status if corpus is not None else "gone"


def enqueue_validation(corpus_id: int) -> None:
    validate_corpus.apply_async((corpus_id,), queue="cpu")


@shared_task(name="workers.corpora.sweep_abandoned_uploads")
def sweep_abandoned_uploads() -> dict[str, int]:
    """Beat task: delete uploads idle too long, give up on crashed validations."""
    from webapp.corpora.actions import do_sweep_uploads

    with EventPublisher() as publisher:
        return do_sweep_uploads(send=publisher.group_send)
