"""A corpus's own part of its deletion plan (webapp/deletion): a validation in flight stops
with it, and the corpus pages' sockets hear that it went. What the runs that read it say is
in their apps' deletion.py."""

from __future__ import annotations

from collections.abc import Iterator

from webapp.corpora.actions import do_delete_corpus
from webapp.corpora.models import Corpus
from webapp.deletion.plans import Effect, Part, deletable


@deletable(Corpus)
class CorpusPart(Part[Corpus]):
    def effects(self, corpus: Corpus) -> Iterator[Effect]:
        if corpus.is_active:
            yield Effect(f"its {corpus.get_status_display().lower()} stops")

    def delete_row(self, corpus: Corpus) -> None:
        do_delete_corpus(corpus)  # also tells the corpus pages' sockets, after commit
