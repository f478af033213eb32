"""The Celery app. Configuration comes from Django settings (every `CELERY_*` name).

Queues (DESIGN §2): `cpu` (validation, tokenizers, evaluation; prefork), `gpu_train` (training;
solo pool, prefetch 1), `gpu_infer` (generation; a long-lived threaded worker caching models).
Nothing here imports torch or touches CUDA: workers fork, and the device is chosen inside a task.
"""

import os

from celery import Celery
from kombu import Queue

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "webapp.settings")

QUEUES = ("cpu", "gpu_train", "gpu_infer")

app = Celery("bottega")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.conf.task_queues = [Queue(name) for name in QUEUES]
app.conf.imports = (
    "workers.tasks",
    "workers.corpora",
    "workers.tokenization",
    "workers.training",
    "workers.playground",
)
