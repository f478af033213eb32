"""The Celery app. Configuration comes from Django settings (every `CELERY_*` name).

Queues (settings.TASK_QUEUES; docs/architecture.md, "How it starts"): `cpu` (validation,
tokenizers, sweeps; prefork), `gpu_train` (training; solo pool, prefetch 1), `gpu_infer`
(generation; a long-lived threaded worker caching models). Nothing here imports torch or
touches CUDA: workers fork, and the device is chosen inside a task. The web side imports
only `app` from here and sends tasks by name (webapp/web/enqueue.py).
"""

import os

from celery import Celery
from django.conf import settings
from kombu import Queue

from workers import logs

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "webapp.settings")
logs.install()  # routine probes log at DEBUG, not INFO (workers/logs.py)
QUEUES = tuple(settings.TASK_QUEUES)

app = Celery("bottega")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.conf.task_queues = [Queue(name) for name in QUEUES]
app.conf.imports = (
    "workers.alive",
    "workers.tasks",
    "workers.corpora",
    "workers.tokenization",
    "workers.training",
    "workers.playground",
    "workers.anatomy",
    "workers.registry",
    "workers.evaluation",
)
