"""`/ws/evaluations/<id>/`: the run's state, then every result stored so far (`eval.result`,
one per (version, task)), then each new status and result as the worker pushes them."""

from typing import Any

from webapp.evaluation.models import EvaluationRun
from webapp.jobs.consumers import RunConsumer
from webapp.web.sockets import JsonSocketConsumer


class EvaluationRunConsumer(RunConsumer):
    model = EvaluationRun

    def history(self, run: Any) -> list[dict[str, Any]]:
        return [
            {"type": "eval.result", **r.to_dict()} for r in run.results.select_related("version")
        ]

    eval_result = JsonSocketConsumer.forward
