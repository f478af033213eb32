"""A worker process killed mid-run: the sweep fails the run, and resume finishes it.

The worker here is a real `celery worker` *process* (so it can be SIGKILLed) sharing the test
database file and Redis; the resume runs on the embedded test worker.
"""

import os
import signal
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import pytest
from django.conf import settings
from django.urls import reverse

from tests.webapp.fixtures_ml import wait_for
from tests.webapp.training.helpers import make_run
from webapp.jobs.models import sweep_stale_jobs
from webapp.registry.models import ModelVersion
from webapp.training.models import RunEvent, TrainingRun
from workers.training import train_model_run

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]
ROOT = Path(__file__).resolve().parents[3]


def _worker_process(queue: str, redis_url: str) -> subprocess.Popen:
    env = {**os.environ, "DATABASE_URL": f"sqlite:///{settings.DATABASES['default']['NAME']}",
           "REDIS_URL": redis_url, "MEDIA_ROOT": str(settings.MEDIA_ROOT)}  # fmt: skip
    cmd = [sys.executable, "-m", "celery", "-A", "workers", "worker", "-Q", queue,
           "--pool", "solo", "-n", f"{queue}@%h", "-l", "WARNING"]  # fmt: skip
    return subprocess.Popen(cmd, cwd=ROOT, env=env, start_new_session=True)


def test_a_killed_worker_is_swept_and_the_run_resumes(
    alice, alice_client, corpus, tokenizer_run, services, celery_worker
):
    run = make_run(alice, corpus, tokenizer_run, max_steps=60, eval_every=10)
    # A private queue: the embedded worker serves gpu_train, and this run is for the process.
    worker = _worker_process("crash_test", services)
    try:
        train_model_run.apply_async((run.pk,), queue="crash_test")
        wait_for(lambda: TrainingRun.objects.get(pk=run.pk).has_checkpoint, timeout=90, every=0.2)
        os.killpg(worker.pid, signal.SIGKILL)
    finally:
        worker.wait(10)
    killed_at = RunEvent.objects.filter(run=run).order_by("-id").first().step
    assert TrainingRun.objects.get(pk=run.pk).status == "running"  # nobody knows yet

    time.sleep(1.5)
    assert sweep_stale_jobs(timedelta(seconds=1)) == 1
    run.refresh_from_db()
    assert run.status == "failed" and "stopped reporting" in run.error and run.can_resume

    alice_client.post(reverse("training:resume", args=[run.pk]))
    wait_for(
        lambda: TrainingRun.objects.get(pk=run.pk).status in {"succeeded", "failed"}, timeout=120
    )
    run.refresh_from_db()
    assert run.status == "succeeded", run.error
    steps = [
        e.step
        for e in RunEvent.objects.filter(run=run, type="run.metrics", data__loss__isnull=False)
    ]
    assert steps[-1] == 60 and max(steps) > killed_at
    assert ModelVersion.objects.get(run=run).step == 60
