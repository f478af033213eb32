"""Starting tasks by name: the web side imports no task code, only the Celery app.

`enqueue` is how a view or an action starts a job: ids only, sent once the current
transaction commits (at once outside one), so a worker never looks for a row that isn't
there yet. `send` sends at once, with Celery's options (`queue`, `expires`, ...), for callers
that handle a broker error themselves (the playground, the status probes). Either way Celery
routes the task by its name through CELERY_TASK_ROUTES (default queue: `cpu`) unless a
`queue` is given; task names are the `name=` of each `@shared_task` in workers/.
"""

from __future__ import annotations

from typing import Any

from celery.result import AsyncResult
from django.db import transaction

from workers.app import app


def send(
    name: str, *args: Any, options: dict[str, Any] | None = None, **kwargs: Any
) -> AsyncResult:
    return app.send_task(name, args=args, kwargs=kwargs, **(options or {}))


def enqueue(name: str, *args: Any, options: dict[str, Any] | None = None, **kwargs: Any) -> None:
    transaction.on_commit(lambda: send(name, *args, options=options, **kwargs))
