"""How far a run is, when it evaluates and how long it has left: pure functions of step counts
and clocks (no torch), used by the trainer (lmcore/train.py), which reports them to the web.

- `progress_of`: the fraction done, by whichever limit is closer. A time limit counts the
  time left for the final evaluation as spent (`reserve`): training stops early enough for
  that evaluation (and its samples and checkpoint) to end inside `max_seconds`.
- `eval_due`: periodic evaluations, every `eval_every` steps, or each time progress passes a
  tenth of the run. Two bounds keep evaluation from eating the run: at least `eval_gap`
  steps lie between two evaluations, and the tenths count from where the previous
  evaluation *ended*, so an evaluation longer than a tenth of the run cannot make the very
  next step evaluate again.
- `Pace`: the step time, as a moving average over the last steps, leaving out each
  session's first steps (start-up, compiling) and the evaluations; `eta` turns it into the
  seconds left.
"""

from __future__ import annotations

import math
from collections import deque

from lmcore.config import EVALS_PER_RUN, TrainConfig

EVAL_MIN_GAP = 5  # steps between two periodic evaluations, at least (a tenth of a shorter run)
PACE_WINDOW = 20  # steps in the moving average of step time
PACE_SKIP = 2  # first steps of each session left out of it (start-up, torch.compile)
RESERVE_SHARE = 0.5  # the final evaluation's reserve never takes more of a time limit


def progress_of(cfg: TrainConfig, step: int, elapsed: float, reserve: float = 0.0) -> float:
    """Fraction of the run done, by whichever limit is closer; `reserve` seconds at the end
    of a time limit are kept for the final evaluation (see `final_reserve`)."""
    by_steps = step / cfg.max_steps if cfg.max_steps else 0.0
    by_time = elapsed / (cfg.max_seconds - reserve) if cfg.max_seconds else 0.0
    return max(by_steps, by_time)


def final_reserve(cfg: TrainConfig, estimate: float | None) -> float:
    """Seconds of a time limit kept for the final evaluation: its estimate, at most half the
    limit (a longer final evaluation then ends past it); 0 without a time limit or estimate."""
    if not cfg.max_seconds or estimate is None:
        return 0.0
    return min(estimate, RESERVE_SHARE * cfg.max_seconds)


def eval_gap(cfg: TrainConfig) -> int:
    """Fewest steps between two periodic evaluations: EVAL_MIN_GAP, or a tenth of a shorter
    step limit (a 20-step run still evaluates every 2 steps)."""
    if cfg.max_steps:
        return max(1, min(EVAL_MIN_GAP, cfg.max_steps // EVALS_PER_RUN))
    return EVAL_MIN_GAP


def eval_due(cfg: TrainConfig, step: int, since: float, after: float, last_eval: int = 0) -> bool:
    """Whether to evaluate after `step`: every `eval_every` steps; without it, when progress
    (`after`, this step's) has passed a tenth since `since` (the progress when the previous
    evaluation ended, or the session began), at least `eval_gap` steps after `last_eval`
    (the previous evaluation's step). The last tenth is the final evaluation's.
    Example: eval_due(cfg, 7, 0.09, 0.11)."""
    if cfg.eval_every is not None:
        return step % cfg.eval_every == 0
    if step - last_eval < eval_gap(cfg):
        return False
    tenths = math.floor(after * EVALS_PER_RUN)
    return tenths > math.floor(since * EVALS_PER_RUN) and tenths < EVALS_PER_RUN


def evals_left(cfg: TrainConfig, step: int, progress: float) -> int:
    """Periodic evaluations still to come (about), the final one not counted."""
    if cfg.eval_every is not None:
        end = cfg.max_steps if cfg.max_steps else step
        return max(0, (end - 1) // cfg.eval_every - step // cfg.eval_every)
    return max(0, EVALS_PER_RUN - 1 - math.floor(progress * EVALS_PER_RUN))


class Pace:
    """Moving average of step time; see the module docstring."""

    def __init__(self, window: int = PACE_WINDOW, skip: int = PACE_SKIP) -> None:
        self.times: deque[float] = deque(maxlen=window)
        self.skip = skip

    def add(self, seconds: float) -> None:
        if self.skip > 0:
            self.skip -= 1
        else:
            self.times.append(seconds)

    @property
    def step_seconds(self) -> float | None:
        return sum(self.times) / len(self.times) if self.times else None


def eta(
    cfg: TrainConfig, step: int, elapsed: float, step_seconds: float | None,
    eval_seconds: float, final_seconds: float,
) -> float | None:  # fmt: skip
    """Seconds left: by a time limit, the time to it (the final evaluation fits inside); by a
    step limit, the steps left at `step_seconds` each, plus the evaluations left at
    `eval_seconds` each and the final one's `final_seconds`. None before any measure."""
    left = []
    if cfg.max_seconds:
        left.append(max(cfg.max_seconds - elapsed, 0.0))
    if cfg.max_steps and step_seconds is not None:
        periodic = evals_left(cfg, step, step / cfg.max_steps) * eval_seconds
        left.append((cfg.max_steps - step) * step_seconds + periodic + final_seconds)
    return round(min(left), 1) if left else None
