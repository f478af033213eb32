"""The shared job state machine, on a concrete model made for the test."""

from datetime import timedelta

import pytest
from django.db import connection, models
from django.test.utils import isolate_apps
from django.utils import timezone

from webapp.jobs.models import Job, JobStatus, sweep_stale_jobs

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def job_model():
    with isolate_apps("webapp.jobs"):

        class ExampleJob(Job):
            name = models.CharField(max_length=20, default="x")

            class Meta:
                app_label = "jobs"

        with connection.schema_editor() as editor:
            editor.create_model(ExampleJob)
        yield ExampleJob
        with connection.schema_editor() as editor:
            editor.delete_model(ExampleJob)


def test_it_moves_queued_to_running_once(job_model):
    job = job_model.objects.create()
    assert job.mark_running()
    assert not job_model.objects.get(pk=job.pk).mark_running()  # a second worker loses the race
    job.refresh_from_db()
    assert job.status == JobStatus.RUNNING and job.started_at and job.heartbeat_at


def test_it_cancels_a_queued_job_at_once_and_a_running_one_cooperatively(job_model):
    queued, running = job_model.objects.create(), job_model.objects.create()
    running.mark_running()
    assert queued.request_cancel() and queued.status == JobStatus.CANCELLED
    assert running.request_cancel() and running.status == JobStatus.CANCELLING
    assert running.finish(JobStatus.CANCELLED)
    assert not running.request_cancel()


def test_it_never_leaves_a_finished_state(job_model):
    job = job_model.objects.create()
    job.mark_running()
    assert job.finish(JobStatus.SUCCEEDED)
    assert job.progress == 1.0
    assert not job.finish(JobStatus.FAILED, error="late")
    assert not job.beat(progress=0.5)
    job.refresh_from_db()
    assert job.status == JobStatus.SUCCEEDED and job.error == ""


def test_it_sweeps_jobs_whose_heartbeat_is_stale(job_model):
    stale, fresh, queued = (job_model.objects.create() for _ in range(3))
    stale.mark_running()
    fresh.mark_running()
    job_model.objects.filter(pk=stale.pk).update(heartbeat_at=timezone.now() - timedelta(minutes=5))
    assert sweep_stale_jobs(timedelta(minutes=2), models=[job_model]) == 1
    stale.refresh_from_db()
    fresh.refresh_from_db()
    queued.refresh_from_db()
    assert stale.status == JobStatus.FAILED and "stopped reporting" in stale.error
    assert fresh.status == JobStatus.RUNNING and queued.status == JobStatus.QUEUED
