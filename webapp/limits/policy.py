"""Per-user limits on what one user may ask of the shared workers (docs/architecture.md,
"Per-user limits"): jobs at once, model size, training time, devices, and storage.

The defaults are settings (`BOTTEGA_LIMIT_*`, `BOTTEGA_USER_QUOTA_BYTES`); an administrator
may override any of them for one user (`UserLimits`, in the admin; `limits_for`, in
webapp/limits/models.py). 0 means no limit; staff have none. The storage quota's checks are
webapp/limits/storage.py's. Forms show them before launch (`{% limits_summary %}`) and check them in `clean()`,
so a refusal is a form error on a form that keeps what was typed; every action that queues a
job calls `reserve_job` inside its transaction, which locks the user's row and checks the job
count and the storage again, so two submits at once cannot both take the last slot.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model

from webapp.jobs.models import ACTIVE, job_models
from webapp.limits import storage
from webapp.limits.models import ASK, Limits, limits_for


class LimitExceeded(Exception):
    """A launch a limit refuses; the message says which limit and what to do."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def jobs_in_use(user: Any) -> int:
    """The user's queued, running and cancelling jobs, of every kind."""
    return sum(
        model.objects.filter(owner_id=user.pk, status__in=ACTIVE).count() for model in job_models()
    )


# --- what each limit says about one launch: a message, or None when it fits ---------------
def jobs_problem(user: Any, limits: Limits) -> str | None:
    if limits.jobs is None:
        return None
    in_use = jobs_in_use(user)
    if in_use < limits.jobs:
        return None
    return (
        f"You have {plural(in_use, 'job')} queued or running, and your limit is {limits.jobs} at "
        "once: wait for one to finish (or cancel one), then launch again."
    )


def params_problem(params: int, limits: Limits) -> str | None:
    if limits.params is None or params <= limits.params:
        return None
    return (
        f"This model has {format_params(params)} parameters ({params:,}); your limit is "
        f"{format_params(limits.params)}. Make it smaller (fewer layers, a narrower width, "
        f"a smaller preset), or {ASK}."
    )


def minutes_problem(minutes: float, limits: Limits) -> str | None:
    if limits.minutes is None or minutes <= limits.minutes:
        return None
    return (
        f"{minutes:g} minutes is more than your limit of {format_minutes(limits.minutes)} "
        f"({limits.minutes} minutes) per run; {ASK}."
    )


def devices_problem(devices: int, limits: Limits) -> str | None:
    if limits.devices is None or devices <= limits.devices:
        return None
    return f"Your limit is {plural(limits.devices, 'device')} per run; {ASK}."


def reserve_job(user: Any, extra_bytes: int = 0) -> None:
    """Inside the launching transaction: lock the user's row (one launch at a time per user),
    then LimitExceeded if another job or `extra_bytes` more storage would pass a limit."""
    get_user_model().objects.select_for_update().filter(pk=user.pk).first()
    limits = limits_for(user)
    problem = jobs_problem(user, limits) or storage.launch_problem(user, limits, extra_bytes)
    if problem:
        raise LimitExceeded(problem)


def check_run_shape(limits: Limits, params: int, devices: int = 1) -> None:
    """LimitExceeded if a run this large passes a limit (a resume checks its run's)."""
    problem = params_problem(params, limits) or devices_problem(devices, limits)
    if problem:
        raise LimitExceeded(problem)


def time_budget(limits: Limits, max_seconds: float | None) -> float | None:
    """A run's time limit under the user's: theirs when the run has none or a longer one."""
    if limits.seconds is not None and (max_seconds is None or max_seconds > limits.seconds):
        return limits.seconds
    return max_seconds


# --- words ---------------------------------------------------------------------------------
def plural(n: int, word: str) -> str:
    return f"{n:,} {word}" if n == 1 else f"{n:,} {word}s"


def format_params(n: int) -> str:
    """50_000_000 → '50 M', 1_500_000 → '1.5 M', 124_439_808 → '124 M'."""
    for size, unit in ((10**9, "B"), (10**6, "M"), (10**3, "k")):
        if n >= size:
            value = n / size
            return f"{value:.3g} {unit}" if value < 100 else f"{value:.0f} {unit}"
    return f"{n:,}"


def format_minutes(minutes: int) -> str:
    """120 → '2 h', 90 → '1 h 30 min', 45 → '45 min'."""
    hours, rest = divmod(int(minutes), 60)
    if not hours:
        return f"{rest} min"
    return f"{hours} h" if not rest else f"{hours} h {rest} min"
