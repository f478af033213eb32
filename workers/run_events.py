"""A training child's JSON lines, as the supervisor (workers/training.py) hands them over: what
is stored on the run (through an Outbox that retries database writes), what is only pushed to
the run page, and the checks made on the way (a resume that starts at the wrong step, the
owner's storage quota at each checkpoint)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from django.conf import settings

from webapp.jobs.reporting import JobReporter
from webapp.limits import storage
from webapp.training.models import TrainingRun
from workers.outbox import Outbox

logger = logging.getLogger(__name__)


class RunEvents:
    """lmcore's JSON lines → the run's events (stored by the run through an Outbox), its
    progress and phase, and checks. Stored: "step" and "eval" metrics, samples, and each
    change of phase (starting, encoding, compiling, training, evaluating, saving). Pushed
    only: the encoding's byte counts within its phase, and "pace" lines (progress and ETA
    between logged steps, at most one a second)."""

    def __init__(self, run: TrainingRun, reporter: JobReporter, resumed_from: int | None,
                 over_quota: Callable[[str], None]) -> None:  # fmt: skip
        self.run, self.reporter, self.resumed_from = run, reporter, resumed_from
        self.over_quota = over_quota
        self.done: dict[str, Any] | None = None
        self.problem: str | None = None
        self.phase: str | None = None
        self._first_step = True
        self._seen: set[tuple[str, int, str]] = set()  # a stop right after an eval repeats it
        self.outbox = Outbox(self._store, reporter.push, name=f"events-{run.pk}")

    def put(self, event: dict[str, Any]) -> None:
        kind, step = event.get("event"), event.get("step", self.resumed_from or 0)
        if kind == "start":
            self._check_start(event)
        elif kind == "done":
            self.done = event
        elif kind == "checkpoint":
            self.outbox.put(("quota", step, {}))  # measured in the outbox's thread
        elif kind == "phase":
            self._phase(event["phase"], step, event)
        elif kind == "progress":  # encoding the corpus (lmcore/corpus_text.py)
            self._phase("encoding", step, {"bytes_done": event.get("bytes_read"),
                                           "bytes_total": event.get("bytes_total")})  # fmt: skip
        elif kind == "pace":
            self._progress(event)
            self.reporter.push({"type": "run.pace", **{k: event.get(k) for k in WHERE}})
        elif kind == "step":
            if self._first_step and self.resumed_from is not None and step != self.resumed_from + 1:
                self.problem = (f"resume went wrong: the first step was {step}, not "
                                f"{self.resumed_from + 1} (the checkpoint's + 1)")  # fmt: skip
            self._first_step = False
            self._progress(event)
            keys = ("loss", "lr", "tokens_per_s", "tokens", *WHERE)
            self.outbox.put(("run.metrics", step, {k: event.get(k) for k in keys}))
        elif kind in ("eval", "sample") and self._once(kind, step, _key(event)):
            if kind == "eval":
                data = {k: event.get(k) for k in ("val_loss", "val_bpb", "seconds")}
                data["val_tokens"] = event.get("tokens")
                data["corpora"] = event.get("corpora") or {}  # named when stored (retried)
                self.outbox.put(("run.metrics", step, data))
            else:
                self.outbox.put(("run.sample", step, {"prompt": event.get("prompt"),
                                                      "text": event.get("text")}))  # fmt: skip

    def _progress(self, event: dict[str, Any]) -> None:
        """The fraction done, as lmcore measures it (lmcore.pace.progress_of)."""
        if isinstance(event.get("progress"), (int, float)):
            self.reporter.progress = min(1.0, float(event["progress"]))

    def _phase(self, phase: str, step: int, event: dict[str, Any]) -> None:
        """A new phase is stored (the page shows it after a reload too); what follows within
        it (the encoding's byte counts) is only pushed."""
        keys = (*WHERE, "bytes_done", "bytes_total")
        data = {"phase": phase, **{k: event[k] for k in keys if event.get(k) is not None}}
        self._progress(event)
        if phase != self.phase:
            self.phase = phase
            self.outbox.put(("run.phase", step, data))
        else:
            self.reporter.push({"type": "run.phase", "step": step, **data})

    def _check_start(self, event: dict[str, Any]) -> None:
        logger.info("run %s trains with %s intra-op threads per process", self.run.pk,
                    event.get("threads"))  # fmt: skip
        if self.resumed_from is not None and event.get("step") != self.resumed_from:
            self.problem = (f"resume went wrong: the trainer started at step {event.get('step')}, "
                            f"the checkpoint is at step {self.resumed_from}")  # fmt: skip

    def _once(self, kind: str, step: int, key: str) -> bool:
        seen = (kind, step, key) in self._seen
        self._seen.add((kind, step, key))
        return not seen

    def _store(self, item: tuple[str, int, dict[str, Any]], retried: bool) -> dict[str, Any]:
        kind, step, data = item
        if kind == "quota":
            problem = storage.checkpoint_problem(self.run.owner, step)
            if problem:
                self.over_quota(problem)
            return None
        return self.run.record_event(kind, step, data, retried=retried)

    def close(self) -> bool:
        return self.outbox.close(timeout=settings.TRAIN_STORE_TIMEOUT_S)


WHERE = ("step", "seconds", "progress", "eta_s")  # where a run is: lmcore/train.py's _Meter


def _key(event: dict[str, Any]) -> str:
    """What tells repeated events of one step apart: a sample's prompt; an eval's token count,
    so the final evaluation on the whole held-out text is kept after a periodic one on a part
    of it at the same step (the run page then ends on the version's figure)."""
    return str(event.get("prompt", event.get("tokens", "")))
