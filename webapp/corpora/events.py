"""Corpus events pushed to browsers (an accelerator: the row stays the truth).

Each event goes to two Channels groups: the owner's (the corpus list) and the corpus's own
(its page). Payload `type`s match the consumer's handler names (`corpus.status` →
`corpus_status`). Senders are injected: a task passes its `EventPublisher.group_send`,
the web process `web_send`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, TypedDict

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer

logger = logging.getLogger(__name__)

Send = Callable[[str, dict[str, Any]], None]  # (group, message)


class CorpusStatusEvent(TypedDict):
    type: str  # "corpus.status"
    id: int
    name: str
    kind: str  # "text" | "conversations"
    status: str
    status_label: str
    error: str
    notice: str
    size_bytes: int
    received_bytes: int
    progress: float  # validation, 0 to 1
    url: str


class CorpusDeletedEvent(TypedDict):
    type: str  # "corpus.deleted"
    id: int


def user_group(user_id: int) -> str:
    return f"corpora.user.{user_id}"


def corpus_group(corpus_id: int) -> str:
    return f"corpora.corpus.{corpus_id}"


def status_event(corpus: Any) -> CorpusStatusEvent:
    return {"type": "corpus.status", **corpus.status_dict()}  # type: ignore[typeddict-item]


def deleted_event(corpus_id: int) -> CorpusDeletedEvent:
    return {"type": "corpus.deleted", "id": corpus_id}


def owned(user: Any, corpus_id: int) -> bool:
    """Whether the corpus is the user's: the socket's check before it subscribes."""
    from webapp.corpora.models import Corpus  # which imports this module

    return Corpus.objects.for_user(user).filter(pk=corpus_id).exists()


def snapshot(user: Any, corpus_id: int | None, limit: int) -> list[dict[str, Any]]:
    """What a socket sends first: the corpus's state (or `corpus.deleted`), or that of each
    of the user's latest `limit` corpora."""
    from webapp.corpora.models import Corpus

    corpora = Corpus.objects.for_user(user)
    if corpus_id is not None:
        corpora = corpora.filter(pk=corpus_id)
        if not corpora.exists():
            return [dict(deleted_event(corpus_id))]
    return [dict(status_event(c)) for c in corpora[:limit]]


def publish(send: Send | None, owner_id: int, corpus_id: int, event: dict[str, Any]) -> None:
    """Send `event` to the owner's and the corpus's groups; a failed push is only logged."""
    if send is None:
        return
    try:
        send(user_group(owner_id), event)
        send(corpus_group(corpus_id), event)
    except Exception:  # Redis down: the page still shows the truth on reload
        logger.warning("could not push %s for corpus %s", event["type"], corpus_id, exc_info=True)


def web_send(group: str, message: dict[str, Any]) -> None:
    """Send from a (synchronous) view: a few events per request, so async_to_sync is fine."""
    async_to_sync(get_channel_layer().group_send)(group, message)
