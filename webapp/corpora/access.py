"""The one way to look up a corpus for a request: its owner's, or 404 (never 403: no probing)."""

from __future__ import annotations

from typing import Any

from django.http import Http404

from webapp.corpora.models import Corpus


def access_corpus(user: Any, pk: int) -> Corpus:
    """`user`'s corpus `pk`; Http404 when it is someone else's or doesn't exist."""
    try:
        return Corpus.objects.for_user(user).get(pk=pk)
    except Corpus.DoesNotExist:
        raise Http404("No such corpus.") from None
