from datetime import timedelta

import pytest

from workers.app import QUEUES, app


def test_every_scheduled_task_exists_and_goes_to_a_served_queue():
    app.loader.import_default_modules()
    schedule = app.conf.beat_schedule
    assert "sweep-stale-jobs" in schedule
    for entry in schedule.values():
        assert entry["task"] in app.tasks
        assert entry["options"]["queue"] in QUEUES


@pytest.mark.django_db(transaction=True)
def test_the_sweep_runs_in_a_real_worker(celery_worker):
    from workers.tasks import sweep_stale_jobs

    # Nothing is stale: the task runs through every job model and changes nothing.
    result = sweep_stale_jobs.apply_async(queue="cpu", ignore_result=False)
    assert result.get(timeout=10) == 0
    assert timedelta(seconds=app.conf.beat_schedule["sweep-stale-jobs"]["schedule"]) > timedelta(0)
