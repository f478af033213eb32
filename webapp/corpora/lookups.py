"""What the corpus socket reads from the database, synchronously (webapp/corpora/consumers.py
calls these through `database_sync_to_async` and holds only the plain values they return)."""

from __future__ import annotations

from typing import Any

from webapp.corpora.events import deleted_event, status_event
from webapp.corpora.models import Corpus


def owned(user: Any, corpus_id: int) -> bool:
    """Whether the corpus is the user's: the socket's check before it subscribes."""
    return Corpus.objects.for_user(user).filter(pk=corpus_id).exists()


def snapshot(user: Any, corpus_id: int | None, limit: int) -> list[dict[str, Any]]:
    """What a socket sends first: the corpus's state (or `corpus.deleted`), or that of each
    of the user's latest `limit` corpora."""
    corpora = Corpus.objects.for_user(user)
    if corpus_id is not None:
        corpora = corpora.filter(pk=corpus_id)
        if not corpora.exists():
            return [dict(deleted_event(corpus_id))]
    return [dict(status_event(c)) for c in corpora[:limit]]
