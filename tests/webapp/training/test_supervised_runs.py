"""The gpu_train worker supervises a child process: pings answered during a run, crashes
reported with the child's own words, several processes per run, the devices field, the queue."""

import os
import signal

import pytest
from django.urls import reverse
from django.utils import timezone

from tests.webapp.fixtures_ml import wait_for
from tests.webapp.heartbeats import beat_once
from tests.webapp.training.helpers import form_data, make_run
from webapp.registry.models import ModelVersion
from webapp.training.models import RunEvent, TrainingRun
from workers import training

pytestmark = pytest.mark.django_db(transaction=True)


def _status(run):
    return TrainingRun.objects.get(pk=run.pk).status


def _child_of(run):
    """The supervised child of a run this process's (embedded) worker is training."""
    return wait_for(lambda: (s := training._active.get(run.pk)) and s.child, timeout=60)


def _wait_for_step(run, step=10):
    wait_for(lambda: RunEvent.objects.filter(run=run, step__gte=step).exists(), timeout=120)


def _finished(run, timeout=120):
    wait_for(lambda: _status(run) in {"succeeded", "failed", "cancelled"}, timeout)
    return TrainingRun.objects.get(pk=run.pk)


def test_healthz_stays_green_while_a_run_trains(
    client, alice, alice_client, corpus, tokenizer_run, celery_worker
):
    run = make_run(alice, corpus, tokenizer_run, enqueue=True, max_steps=100_000, eval_every=500)
    _wait_for_step(run)
    beat_once()  # the training worker answers its heartbeat while its run trains
    response = client.get("/healthz")
    assert response.status_code == 200, response.json()
    assert response.json()["queues"]["gpu_train"] and _status(run) == "running"

    alice_client.post(reverse("training:cancel", args=[run.pk]))
    run = _finished(run, timeout=60)
    assert run.status == "cancelled" and run.has_checkpoint


def test_a_child_killed_mid_run_fails_the_run_and_the_worker_goes_on(
    alice, corpus, tokenizer_run, celery_worker
):
    doomed = make_run(alice, corpus, tokenizer_run, enqueue=True, max_steps=100_000)
    _wait_for_step(doomed)
    os.killpg(_child_of(doomed).process.pid, signal.SIGKILL)  # as the kernel's OOM killer does
    doomed = _finished(doomed)
    assert doomed.status == "failed"
    assert "killed by signal 9" in doomed.error and "out of memory" in doomed.error

    after = make_run(alice, corpus, tokenizer_run, enqueue=True, name="after", max_steps=20)
    assert _finished(after).status == "succeeded"


def test_a_failing_child_shows_the_end_of_its_error_output(
    alice, corpus, tokenizer_run, celery_worker
):
    run = make_run(alice, corpus, tokenizer_run)
    TrainingRun.objects.filter(pk=run.pk).update(train_config={**run.train_config, "lr": -1.0})
    training.train_model_run.delay()
    run = _finished(run)
    assert run.status == "failed"
    assert (
        "exited with status 1" in run.error
        and "error: lr and muon_lr must be positive" in run.error
    )


@pytest.mark.slow
def test_two_devices_train_one_model_in_two_processes(
    alice, corpus, tokenizer_run, celery_worker, settings
):
    settings.TRAIN_DEVICES = 2
    run = make_run(alice, corpus, tokenizer_run, enqueue=True, devices=2, max_steps=20)
    run = _finished(run, timeout=240)
    assert run.status == "succeeded", run.error
    assert run.devices == 2 and ModelVersion.objects.get(run=run).step == 20
    start = run.directory / "run.json"
    assert start.is_file()
    steps = [e.step for e in RunEvent.objects.filter(run=run, data__loss__isnull=False)]
    assert steps == [10, 20]


def test_the_form_refuses_more_devices_than_any_worker_has(
    alice_client, corpus, tokenizer_run, settings
):
    settings.TRAIN_DEVICES = 2
    response = alice_client.post(reverse("training:index"),
                                 form_data(corpus, tokenizer_run, devices=3))  # fmt: skip
    assert response.status_code == 200
    (error,) = response.context["form"].errors["devices"]
    assert "3 devices" in error and "at most 2" in error
    assert not TrainingRun.objects.exists()


def test_a_resumed_run_queues_behind_runs_queued_before_its_resume(alice, corpus, tokenizer_run):
    first = make_run(alice, corpus, tokenizer_run, name="first")
    second = make_run(alice, corpus, tokenizer_run, name="second")
    assert (first.queue_position(), second.queue_position()) == (1, 2)
    TrainingRun.objects.filter(pk=first.pk).update(status="cancelled", finished_at=timezone.now())
    first.refresh_from_db()
    assert first.mark_resumed()
    second.refresh_from_db()
    assert (second.queue_position(), first.queue_position()) == (1, 2)


def test_the_beat_sweep_wakes_a_queue_whose_wake_up_was_lost(
    alice, corpus, tokenizer_run, celery_worker
):
    from workers.tasks import sweep_stale_jobs

    run = make_run(alice, corpus, tokenizer_run, max_steps=10)  # queued; no message was sent
    sweep_stale_jobs()  # what beat runs every 15 s
    assert _finished(run).status == "succeeded"
