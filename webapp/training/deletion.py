"""A training run's part of deletion plans (webapp/deletion): its own (a job whose logged
events go with it), and what becomes of training and fine-tuning runs when a corpus, a
conversation dataset, a tokenizer or a version they use is deleted."""

from __future__ import annotations

from collections.abc import Iterator

from django.db.models import QuerySet

from webapp.corpora.models import Corpus
from webapp.deletion.jobs import JobPart, active_refusal, job_line
from webapp.deletion.plans import Effect, deletable, dependants
from webapp.registry.models import ModelVersion
from webapp.tokenization.models import TokenizerRun
from webapp.training.actions import do_cancel_training_run
from webapp.training.models import RunEvent, TrainingRun


@deletable(TrainingRun)
class TrainingRunPart(JobPart[TrainingRun]):
    stopping = ", after saving a checkpoint that becomes a version"

    def cancel(self, run: TrainingRun) -> bool:
        return do_cancel_training_run(run)

    def effects(self, run: TrainingRun) -> Iterator[Effect]:
        yield from super().effects(run)
        yield Effect("its corpora and its tokenizer are not touched")


@dependants(RunEvent.run)  # CASCADE
def _events(run: TrainingRun, events: QuerySet[RunEvent]) -> Iterator[Effect]:
    if count := events.count():
        yield Effect(f"its {count:,} logged events (the charts) are deleted")


@dependants(TrainingRun.corpora)
def _learning_from_a_corpus(corpus: Corpus, runs: QuerySet[TrainingRun]) -> Iterator[Effect]:
    """A run keeps its encoded data; one queued or running reads the corpus."""
    for run in runs:
        if run.is_active:
            yield active_refusal(run, "training run", "it is read by")
        else:
            more = " and can still resume" if run.can_resume else ""
            yield Effect(f"{job_line(run, 'training run')} keeps its encoded data{more}",
                         run.get_absolute_url())  # fmt: skip


@dependants(TrainingRun.chat_datasets)
def _learning_from_a_dataset(dataset: Corpus, runs: QuerySet[TrainingRun]) -> Iterator[Effect]:
    return _finetunes(runs, "it is read by", "a resume needs its conversation files")


@dependants(TrainingRun.parent)  # SET_NULL
def _starting_from(version: ModelVersion, runs: QuerySet[TrainingRun]) -> Iterator[Effect]:
    return _finetunes(runs, "it starts from it in", "a resume reads this version's tokenizer")


@dependants(TrainingRun.tokenizer)  # RESTRICT
def _using_a_tokenizer(tokenizer: TokenizerRun, runs: QuerySet[TrainingRun]) -> Iterator[Effect]:
    for run in runs:
        then = "cancel it, then delete it" if run.is_active else "delete that run"
        yield Effect(f"refused: {job_line(run, 'training run')} uses this tokenizer: {then} first "
                     "(its model versions stay)", run.get_absolute_url(), refuses=True)  # fmt: skip


def _finetunes(runs: QuerySet[TrainingRun], active: str, resume_needs: str) -> Iterator[Effect]:
    """Refused while a fine-tuning run that needs it is active; a resumable one can no longer
    resume; a finished one keeps its history."""
    for run in runs:
        line = job_line(run, "fine-tuning run")
        if run.is_active:
            yield active_refusal(run, "fine-tuning run", active)
        elif run.can_resume:
            yield Effect(
                f"{line} can no longer be resumed ({resume_needs})", run.get_absolute_url()
            )
        else:
            yield Effect(f"{line} keeps its history and checkpoint", run.get_absolute_url())
