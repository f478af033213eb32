"""Task: evaluate an EvaluationRun's versions on its tasks, one (version, task) at a time.

Every task is prepared first (a harness task's dataset read, a task file's items checked
again, a cloze task's items drawn), so a dataset that cannot be fetched fails the run with its
reason before any compute. Then, per version, its checkpoint is loaded once and each task runs
through lm-evaluation-harness in process (`lmcore.harness`), or through `lmcore.evaluate` for
bits per byte; each result is stored (`EvalResult`, its items as JSONL beside the run) and
pushed at once. The adapter reports each batch: progress moves, and a cancel stops the run
within a batch. Chat versions get their prompts in their chat layout.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from pathlib import Path
from typing import Any

from celery import shared_task

from webapp.evaluation.models import EvalResult, EvalTask, EvaluationRun
from webapp.jobs.models import JobStatus
from webapp.jobs.reporting import JobReporter
from workers.jobs import Cancelled, run_job


@shared_task(name="workers.evaluation.evaluate_run")
def evaluate_run(run_id: int) -> None:
    run_job(EvaluationRun, run_id, _work)


def _work(run: EvaluationRun, reporter: JobReporter) -> str:
    from lmcore.harness import load_task  # the harness loads only here, never in the web process

    if run.queue == "cpu":
        _share_cores()
    versions = list(run.versions.order_by("pk"))
    with tempfile.TemporaryDirectory(prefix="bottega-eval-") as tmp:
        prepared = [(spec, _prepare(spec, Path(tmp), load_task)) for spec in run.tasks]
        steps = len(versions) * len(prepared)
        for v, version in enumerate(versions):
            checkpoint = _load(version)
            for t, (spec, task) in enumerate(prepared):
                done = v * len(prepared) + t

                def on_progress(n: int, total: int, done: int = done) -> None:
                    _report(run, reporter, (done + n / max(total, 1)) / steps)

                result = _evaluate(run, version, checkpoint, spec, task, on_progress)
                reporter.push({"type": "eval.result", **result.to_dict()})
                _report(run, reporter, (done + 1) / steps)
    return JobStatus.SUCCEEDED


def _prepare(spec: dict[str, Any], tmp: Path, load_task: Any) -> Any:
    """The harness task of a spec (None for bits per byte); LmcoreError saying why not."""
    from lmcore.cloze import ClozeConfig, cloze_task
    from lmcore.errors import LmcoreError
    from lmcore.taskfiles import task_from_files
    from webapp.corpora.models import Corpus

    kind = spec["kind"]
    if kind == "harness":
        return load_task(spec["name"])
    if kind == "file":
        task = EvalTask.objects.filter(pk=spec["task_id"]).first()
        if task is None or not task.items_path.exists():
            raise LmcoreError(f"the task file {spec['label']} was deleted")
        config_path = tmp / f"{task.storage_key}.yaml"
        config_path.write_text(json.dumps(task.config), encoding="utf-8")  # JSON is YAML
        return load_task(task_from_files(config_path, task.items_path, tmp / "datasets"))
    corpus = Corpus.objects.filter(pk=spec["corpus_id"]).first()
    if corpus is None or not corpus.path.exists():
        raise LmcoreError(f"the corpus of {spec['label']} was deleted")
    if kind == "bpb":
        return corpus.path
    config = ClozeConfig(items=spec["items"], seed=spec["seed"])
    name = f"cloze_{corpus.pk}"
    return load_task(cloze_task(corpus.path, config, tmp, name=name))


def _load(version: Any) -> Any:
    from lmcore.checkpoint import load_checkpoint
    from lmcore.device import configure, resolve_device

    device = resolve_device("auto")
    configure(device)
    return load_checkpoint(version.directory, device)


def _evaluate(run: EvaluationRun, version: Any, checkpoint: Any, spec: dict[str, Any],
              task: Any, on_progress: Any) -> EvalResult:  # fmt: skip
    from lmcore.documents import bos_id_for
    from lmcore.evaluate import evaluate_tail
    from lmcore.harness import LmcoreLM, run_task

    started = time.perf_counter()
    if spec["kind"] == "bpb":
        bos = bos_id_for(checkpoint.train_config, checkpoint.tokenizer.special_tokens)
        figures = evaluate_tail(checkpoint.model, checkpoint.tokenizer, task, bos_id=bos,
                                on_batch=on_progress)  # fmt: skip
        out = {"output_type": "bpb", "n": figures.tokens, "samples": [],
               "metrics": {k: {"value": v, "stderr": None} for k, v in figures.to_dict().items()}}  # fmt: skip
    else:
        lm = LmcoreLM(checkpoint, chat=version.is_chat, on_progress=on_progress)
        out = run_task(lm, task, limit=run.limit)
    result = EvalResult.objects.create(
        run=run, version=version, task_key=spec["key"], task_label=spec["label"],
        output_type=out["output_type"], metrics=out["metrics"], n=out["n"],
        seconds=time.perf_counter() - started,
    )  # fmt: skip
    run.directory.mkdir(parents=True, exist_ok=True)
    with open(result.samples_path, "w", encoding="utf-8") as f:
        f.writelines(json.dumps(s, ensure_ascii=False) + "\n" for s in out["samples"])
    return result


def _report(run: EvaluationRun, reporter: JobReporter, progress: float) -> None:
    """Progress for the heartbeat thread, a push per percent, and the cancel check."""
    if reporter.cancelled.is_set():
        raise Cancelled
    if int(progress * 100) > int(reporter.progress * 100):
        run.progress = reporter.progress = progress
        reporter.push(run.status_event())


def _share_cores() -> None:
    """A `cpu` worker runs several processes: each evaluation takes its share of the cores."""
    from lmcore.threads import share_of_cores, usable_cores, use_threads

    processes = int(os.environ.get("CPU_CONCURRENCY", "0") or 0) or min(4, usable_cores())
    use_threads(share_of_cores(processes))
