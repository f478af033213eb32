"""An evaluation's and a task file's part of deletion plans (webapp/deletion): their own, and
what becomes of evaluations when a version, corpus or task file they read is deleted: refused
while they run, their results kept otherwise (but a deleted version's)."""

from __future__ import annotations

from collections.abc import Iterator

from django.db.models import QuerySet

from webapp.corpora.models import Corpus
from webapp.deletion.jobs import JobPart, active_refusal, job_line
from webapp.deletion.plans import Effect, Part, deletable, dependants, nothing
from webapp.evaluation.actions import do_cancel_evaluation
from webapp.evaluation.models import EvalResult, EvalTask, EvaluationRun
from webapp.registry.models import ModelVersion


@deletable(EvaluationRun)
class EvaluationRunPart(JobPart[EvaluationRun]):
    def cancel(self, run: EvaluationRun) -> bool:
        return do_cancel_evaluation(run)

    def effects(self, run: EvaluationRun) -> Iterator[Effect]:
        yield from super().effects(run)
        yield Effect("its versions, corpora and task files are not touched")


@deletable(EvalTask)
class EvalTaskPart(Part[EvalTask]):
    """Its items go; the evaluations that ran it keep their results (below)."""


@dependants(EvalResult.run)  # CASCADE
def _results(run: EvaluationRun, results: QuerySet[EvalResult]) -> Iterator[Effect]:
    if count := results.count():
        yield Effect(f"its {count:,} results leave the leaderboard")


@dependants(EvaluationRun.corpora)
def _reading_a_corpus(corpus: Corpus, runs: QuerySet[EvaluationRun]) -> Iterator[Effect]:
    return _evaluations(runs, "keeps its results")


@dependants(EvaluationRun.versions)
def _of_a_version(version: ModelVersion, runs: QuerySet[EvaluationRun]) -> Iterator[Effect]:
    return _evaluations(runs, "loses this version's results")


@dependants(EvaluationRun.task_files)
def _running_a_task(task: EvalTask, runs: QuerySet[EvaluationRun]) -> Iterator[Effect]:
    return _evaluations(runs, "keeps its results on this task")


dependants(EvalResult.version)(nothing)  # said by `_of_a_version`: each run loses them


def _evaluations(runs: QuerySet[EvaluationRun], finished: str) -> Iterator[Effect]:
    """Refused while an evaluation that reads it is active; finished ones say `finished`."""
    for run in runs:
        if run.is_active:
            yield active_refusal(run, "evaluation", "it is read by")
        else:
            yield Effect(f"{job_line(run, 'evaluation')} {finished}", run.get_absolute_url())
