"""A tokenizer's part of deletion plans (webapp/deletion): its own (a job), and what becomes of
tokenizer runs when a corpus they learnt from is deleted."""

from __future__ import annotations

from collections.abc import Iterator

from django.db.models import QuerySet

from webapp.corpora.models import Corpus
from webapp.deletion.jobs import JobPart, active_refusal, job_line
from webapp.deletion.plans import Effect, deletable, dependants
from webapp.tokenization.actions import do_cancel_tokenizer_run
from webapp.tokenization.models import TokenizerRun


@deletable(TokenizerRun)
class TokenizerRunPart(JobPart[TokenizerRun]):
    def cancel(self, run: TokenizerRun) -> bool:
        return do_cancel_tokenizer_run(run)


@dependants(TokenizerRun.corpora)
def _learning_from_a_corpus(corpus: Corpus, runs: QuerySet[TokenizerRun]) -> Iterator[Effect]:
    """A tokenizer keeps what it learnt; one still being trained reads the corpus."""
    for run in runs:
        if run.is_active:
            yield active_refusal(run, "tokenizer run", "it is read by")
        else:
            yield Effect(f"{job_line(run, 'tokenizer')} keeps its tokenizer",
                         run.get_absolute_url())  # fmt: skip
