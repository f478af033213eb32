"""What every run task does around its work: claim the row, beat, record how it ended.

`run_job(model, run_id, work)` loads the row, moves it `queued → running` (a run deleted,
cancelled while queued, or already taken by another worker is left alone), then calls
`work(run, reporter)` under a `JobReporter` that beats and pushes `run.status`. `work` returns
the final status (succeeded or cancelled) or raises: `Cancelled` ends the run cancelled, an
`LmcoreError` fails it with its message, anything else fails it with a pointer to the log.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

from lmcore.errors import LmcoreError
from webapp.jobs.models import JobStatus
from webapp.jobs.reporting import JobReporter

logger = logging.getLogger(__name__)


class Cancelled(Exception):
    """The run was cancelled, or swept away, while it worked."""


def run_job(model: Any, run_id: int, work: Callable[[Any, JobReporter], str]) -> None:
    run = model.objects.filter(pk=run_id).first()
    if run is None or not run.mark_running():
        return
    with JobReporter(run, run.group) as reporter:
        reporter.push(run.status_event())
        try:
            run.finish(work(run, reporter))
        except Cancelled:
            run.finish(JobStatus.CANCELLED)
        except LmcoreError as exc:
            run.finish(JobStatus.FAILED, error=str(exc))
        except Exception as exc:
            logger.exception("%s %s failed", model.__name__, run_id)
            error = f"internal error ({type(exc).__name__}); see the worker log"
            run.finish(JobStatus.FAILED, error=error)
        run.refresh_from_db()
        reporter.push(run.status_event())


def corpus_paths(run: Any) -> list[Path]:
    """The text files of a run's corpora, in a fixed order; LmcoreError if one is gone."""
    corpora = list(run.corpora.order_by("pk"))
    missing = [c.name for c in corpora if not c.path.exists()]
    if not corpora or missing:
        raise LmcoreError(f"corpus files are missing ({', '.join(missing) or 'none chosen'})")
    return [c.path for c in corpora]
