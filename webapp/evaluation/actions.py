"""Side effects of evaluation: start a run, cancel one, keep an uploaded task file (views
validate, actions act; docs/architecture.md, "Evaluation")."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import transaction

from webapp.evaluation.models import EvalTask, EvaluationRun
from webapp.limits import policy
from webapp.web.enqueue import enqueue

TASK = "workers.evaluation.evaluate_run"


def queue_for(versions: list[Any]) -> str:
    """`cpu` for small models, `gpu_infer` for the others: the cpu pool runs several small jobs
    side by side; bigger models belong where the accelerator is, and on the `gpu_infer`
    worker, which serves models anyway. Never `gpu_train`, whose one run at a time may take
    hours."""
    largest = max((v.params for v in versions), default=0)
    return "cpu" if largest <= settings.EVAL_CPU_MAX_PARAMS else "gpu_infer"


def task_specs(data: dict[str, Any]) -> list[dict[str, Any]]:
    """The run's task list from the form's cleaned data (webapp/evaluation/models.py)."""
    specs = [{"key": f"harness:{n}", "label": n, "kind": "harness", "name": n}
             for n in data["harness_tasks"]]  # fmt: skip
    specs += [{"key": f"file:{t.pk}", "label": t.name, "kind": "file", "task_id": t.pk}
              for t in data["task_files"]]  # fmt: skip
    items, seed = data["cloze_items"], data["cloze_seed"]
    specs += [{"key": f"cloze:{c.pk}:s{seed}:n{items}", "label": f"cloze · {c.name}",
               "kind": "cloze", "corpus_id": c.pk, "seed": seed, "items": items}
              for c in data["cloze_corpora"]]  # fmt: skip
    specs += [{"key": f"bpb:{c.pk}", "label": f"bits per byte · {c.name}", "kind": "bpb",
               "corpus_id": c.pk} for c in data["bpb_corpora"]]  # fmt: skip
    return specs


def do_start_evaluation(user: Any, data: dict[str, Any]) -> EvaluationRun:
    versions = list(data["versions"])
    with transaction.atomic():
        policy.reserve_job(user)  # LimitExceeded
        run = EvaluationRun.objects.create(
            owner=user, name=data["name"], tasks=task_specs(data), limit=data.get("limit"),
            queue=queue_for(versions),
        )  # fmt: skip
        run.versions.set(versions)
        run.corpora.set({*data["cloze_corpora"], *data["bpb_corpora"]})
        run.task_files.set(data["task_files"])
        enqueue(TASK, run.pk, options={"queue": run.queue})
    return run


def do_cancel_evaluation(run: EvaluationRun) -> bool:
    """Queued runs end at once; a running one stops after the batch it is on."""
    return run.request_cancel()


def do_create_task_file(user: Any, config: dict[str, Any], items: int, jsonl: Path) -> EvalTask:
    """Keep a checked task: the row, and its items moved into the task's directory."""
    with transaction.atomic():
        task = EvalTask.objects.create(owner=user, name=config["task"], config=config,
                                       output_type=config.get("output_type", "generate_until"),
                                       items=items)  # fmt: skip
        task.directory.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(jsonl, task.items_path)
    return task
