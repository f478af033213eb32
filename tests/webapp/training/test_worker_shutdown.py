"""A deploy: SIGTERM to a worker mid-run. The child checkpoints, the run goes back to `queued`
with its checkpoint, and the next worker that starts resumes it by itself: the first step
after the resume is the checkpoint's + 1, and every step is stored once."""

import os
import signal

import pytest

from tests.webapp.fixtures_ml import wait_for
from tests.webapp.training.helpers import make_run
from tests.webapp.training.worker_process import start_worker, stop_worker
from webapp.registry.models import ModelVersion
from webapp.training.models import RunEvent, TrainingRun

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]


def _loss_steps(run):
    return [e.step for e in RunEvent.objects.filter(run=run, data__loss__isnull=False)]


def test_sigterm_to_the_worker_requeues_the_run_and_a_new_worker_resumes_it(
    alice, corpus, tokenizer_run, services, tmp_path, no_embedded_trainer
):
    run = make_run(alice, corpus, tokenizer_run, max_steps=400, eval_every=100)
    worker = start_worker(services, tmp_path / "first.log")  # claims the queued run at start
    try:
        wait_for(lambda: RunEvent.objects.filter(run=run, step__gte=20).exists(), timeout=120)
        os.kill(worker.pid, signal.SIGTERM)  # what `docker compose stop` sends
        assert worker.wait(120) == 0
    finally:
        if worker.poll() is None:
            os.killpg(worker.pid, signal.SIGKILL)
    run.refresh_from_db()
    assert run.status == "queued", (run.error, (tmp_path / "first.log").read_text()[-3000:])
    stopped_at = run.checkpoint_step()
    assert stopped_at is not None and 20 <= stopped_at < 400
    assert run.queue_position() == 1

    worker = start_worker(services, tmp_path / "second.log")
    try:
        wait_for(lambda: TrainingRun.objects.get(pk=run.pk).status in {"succeeded", "failed"},
                 timeout=300)  # fmt: skip
    finally:
        stop_worker(worker)
    run.refresh_from_db()
    assert run.status == "succeeded", run.error
    steps = _loss_steps(run)
    assert steps == sorted(set(steps)) and steps[-1] == 400  # each step once, in order
    resumed = [s for s in steps if s > stopped_at]
    assert resumed[0] == stopped_at + 1  # the resumed session's first step, shown
    assert ModelVersion.objects.get(run=run).step == 400
