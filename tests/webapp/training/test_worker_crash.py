"""A worker process killed mid-run (SIGKILL: no chance to clean up). Its child gets SIGTERM
from the kernel and checkpoints; the sweep fails the run (no heartbeat); Resume continues it
from that checkpoint: the first step is the checkpoint's + 1, every step is stored once, and
the run ends at the same step count a run without a crash would."""

import os
import signal
import time
from datetime import timedelta

import pytest
from django.urls import reverse

from tests.webapp.fixtures_ml import wait_for
from tests.webapp.training.helpers import make_run
from tests.webapp.training.worker_process import (
    children_of,
    is_running,
    start_worker,
    stop_worker,
)
from webapp.jobs.models import sweep_stale_jobs
from webapp.registry.models import ModelVersion
from webapp.training.models import RunEvent, TrainingRun

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]


def test_a_killed_worker_is_swept_and_the_run_resumes_from_its_checkpoint(
    alice, alice_client, corpus, tokenizer_run, services, tmp_path, no_embedded_trainer
):
    run = make_run(alice, corpus, tokenizer_run, max_steps=300, eval_every=50)
    worker = start_worker(services, tmp_path / "killed.log")  # claims the queued run at start
    try:
        wait_for(lambda: RunEvent.objects.filter(run=run, step__gte=60).exists(), timeout=120)
        child = wait_for(lambda: children_of(worker.pid), timeout=10)[0]
        os.kill(worker.pid, signal.SIGKILL)
    finally:  # a failed wait above must not leave this worker to claim later tests' runs
        if worker.poll() is None:
            os.killpg(worker.pid, signal.SIGKILL)
        worker.wait(10)
    wait_for(lambda: not is_running(child), timeout=60)  # it checkpointed and exited
    assert TrainingRun.objects.get(pk=run.pk).status == "running"  # nobody knows yet
    run.refresh_from_db()
    checkpoint = run.checkpoint_step()
    assert checkpoint is not None and checkpoint >= 60

    time.sleep(1.5)  # the heartbeat must be older than the sweep's threshold (1 s here)
    assert sweep_stale_jobs(timedelta(seconds=1)) == 1
    run.refresh_from_db()
    assert run.status == "failed" and "stopped reporting" in run.error and run.can_resume

    alice_client.post(reverse("training:resume", args=[run.pk]))
    worker = start_worker(services, tmp_path / "resumed.log")
    try:
        wait_for(lambda: TrainingRun.objects.get(pk=run.pk).status in {"succeeded", "failed"},
                 timeout=300)  # fmt: skip
    finally:
        stop_worker(worker)
    run.refresh_from_db()
    assert run.status == "succeeded", run.error
    steps = [e.step for e in RunEvent.objects.filter(run=run, data__loss__isnull=False)]
    assert steps == sorted(set(steps)) and steps[-1] == 300
    assert [s for s in steps if s > checkpoint][0] == checkpoint + 1
    assert ModelVersion.objects.get(run=run).step == 300
