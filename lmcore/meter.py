"""A training session's clocks, and what it tells between evaluations (lmcore/train.py).

`Meter` keeps the wall clock (resumed sessions included), the time in training steps and the
real tokens trained on; it reports the phase ("compiling", "training", "evaluating",
"saving"), a "step" line every `log_every` steps and a light "pace" line (progress and ETA)
at least PACE_EVERY_S apart between them, and it foresees the final evaluation's time from
the periodic ones (the reserve a time limit keeps for it). Progress, ETA and the moving
average of step time: lmcore/pace.py. Pure Python: `run` is lmcore.train's `_Run`.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from lmcore.pace import Pace, eta, final_reserve, progress_of

PACE_EVERY_S = 1.0  # "pace" lines between logged steps, at most one a second


class Meter:
    """The session's clocks, and what it tells between evaluations: the phase ("compiling",
    "training", "evaluating", "saving"), a "step" line every `log_every` steps and a light
    "pace" line (progress, ETA) at least PACE_EVERY_S apart between them. The ETA's step
    time is a moving average that leaves out start-up and evaluations (lmcore/pace.py)."""

    def __init__(self, run: Any, emit: Callable[[dict[str, Any]], None]) -> None:
        self.run, self.cfg, self.emit = run, run.cfg, emit
        self.started = self.last_line = time.perf_counter()
        self.train_seconds = run.prior_train  # in training steps, resumed sessions included
        self.session_train, self.session_tokens = 0.0, 0
        self.window_seconds, self.window_tokens = 0.0, 0
        self.pace = Pace()
        self.eval_seconds = 0.0  # the last periodic evaluation's, its samples and save included
        self.final_estimate: float | None = None  # the final one's, from the periodic ones
        self.phase: str | None = None

    def elapsed(self) -> float:
        return self.run.prior_seconds + time.perf_counter() - self.started

    @property
    def reserve(self) -> float:
        return final_reserve(self.cfg, self.final_estimate)

    def progress(self, elapsed: float) -> float:
        return progress_of(self.cfg, self.run.step, elapsed, self.reserve)

    def eta(self, elapsed: float) -> float | None:
        return eta(self.cfg, self.run.step, elapsed, self.pace.step_seconds, self.eval_seconds,
                   self.final_estimate or 0.0)  # fmt: skip

    def stepped(self, seconds: float, tokens: int) -> None:
        self.pace.add(seconds)
        self.train_seconds += seconds
        self.session_train += seconds
        self.window_seconds += seconds
        self.session_tokens += tokens
        self.window_tokens += tokens

    def _where(self) -> dict[str, Any]:
        elapsed = self.elapsed()
        return {"step": self.run.step, "seconds": round(elapsed, 2),
                "progress": round(min(self.progress(elapsed), 1.0), 4),
                "eta_s": self.eta(elapsed)}  # fmt: skip

    def phase_to(self, phase: str) -> None:
        if phase != self.phase:
            self.phase = phase
            self.emit({"event": "phase", "phase": phase, **self._where()})

    def report(self, loss_value: float | None, lr: float, logged: bool) -> None:
        now = time.perf_counter()
        if logged:
            self.emit({"event": "step", "loss": loss_value, "lr": lr,
                       "tokens_per_s": round(self.window_tokens / self.window_seconds, 1),
                       "tokens": self.run.tokens_seen, **self._where()})  # fmt: skip
            self.window_seconds, self.window_tokens = 0.0, 0
        elif now - self.last_line >= PACE_EVERY_S:
            self.emit({"event": "pace", **self._where()})
        else:
            return
        self.last_line = now

    def evaluated(self, eval_seconds: float, scored: int, rest_seconds: float) -> None:
        """A periodic evaluation took eval_seconds to score `scored` tokens, then rest_seconds
        to sample and save: the final one (on all val_tokens) takes about as long per token."""
        self.eval_seconds = eval_seconds + rest_seconds
        whole = self.run.batches.val_tokens()
        estimate = eval_seconds * max(1.0, whole / max(scored, 1)) + rest_seconds
        # Never lowered: the time limit's budget only shrinks, so progress (and with it the
        # learning rate's schedule) never goes back.
        self.final_estimate = max(self.final_estimate or 0.0, estimate)
