"""`/ws/runs/<id>/`: first the run's state and its whole history, then live events.

History: `{"type": "run.history", "events": [run.metrics | run.sample, ...]}` in the order the
trainer reported them (one message, so the chart draws once), after `run.status`; then
`run.status`, `run.metrics` (`step`, then `loss`, `lr`, `tokens_per_s`, `eta_s`, `seconds` or
`val_loss`, `val_bpb`), `run.sample` (`step`, `prompt`, `text`), `run.phase` (`phase`:
starting, encoding with `bytes_done` of `bytes_total`, compiling, training, evaluating, saving)
and `run.pace` (`step`, `seconds`, `progress`, `eta_s`; not stored) as they happen.
client → `{"type": "status"}` resends the state.
"""

from __future__ import annotations

from typing import Any

from webapp.jobs.consumers import RunConsumer
from webapp.training.models import TrainingRun
from webapp.web.sockets import JsonSocketConsumer


class TrainingRunConsumer(RunConsumer):
    model = TrainingRun

    def history(self, run: Any) -> list[dict[str, Any]]:
        return [{"type": "run.history", "events": [e.payload() for e in run.events.all()]}]

    run_metrics = JsonSocketConsumer.forward
    run_sample = JsonSocketConsumer.forward
    run_phase = JsonSocketConsumer.forward
    run_pace = JsonSocketConsumer.forward
