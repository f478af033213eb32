"""Keep routine probes out of the logs at the default level.

The beat sends a heartbeat through every queue every few seconds and a sweep every 15 s, and
the status page pings each queue while it is open. At INFO, Celery logs each send (beat:
"Scheduler: Sending due task ...") and each receipt and success (workers: "Task ...
received", "... succeeded"): about two lines a second that push everything else, such as how
to sign in, off a newcomer's terminal. This filter lowers those records to DEBUG, so they show
with `LOG_LEVEL=DEBUG` and not otherwise; a probe that fails still logs its error, and every
other task keeps its INFO lines (docs/architecture.md, "How it starts").
"""

from __future__ import annotations

import logging

from django.conf import settings

# Celery's loggers for a task sent by the beat, received by a worker, and its success.
LOGGERS = ("celery.beat", "celery.worker.strategy", "celery.app.trace")


def probe_tasks() -> frozenset[str]:
    """Every task the beat sends, and the status page's ping."""
    beat = {entry["task"] for entry in settings.CELERY_BEAT_SCHEDULE.values()}
    return frozenset(beat | {"workers.tasks.ping"})


def is_probe(record: logging.LogRecord, tasks: frozenset[str]) -> bool:
    """A beat's send (every task the beat sends is periodic), or a probe task's receipt or
    success (Celery passes the task's name in the record's argument dict)."""
    if record.name == "celery.beat":
        return str(record.msg).startswith("Scheduler: Sending due task")
    args = record.args
    return record.levelno == logging.INFO and isinstance(args, dict) and args.get("name") in tasks


class QuietProbes(logging.Filter):
    def __init__(self, tasks: frozenset[str]) -> None:
        super().__init__()
        self.tasks = tasks

    def filter(self, record: logging.LogRecord) -> bool:
        if not is_probe(record, self.tasks):
            return True
        record.levelno, record.levelname = logging.DEBUG, "DEBUG"
        return logging.getLogger(record.name).isEnabledFor(logging.DEBUG)


def install() -> None:
    """Attach the filter to Celery's loggers (once per process; idempotent)."""
    tasks = probe_tasks()
    for name in LOGGERS:
        logger = logging.getLogger(name)
        if not any(isinstance(f, QuietProbes) for f in logger.filters):
            logger.addFilter(QuietProbes(tasks))
