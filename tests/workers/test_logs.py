"""Routine probes log at DEBUG, every other task at INFO (workers/logs.py); the launcher's
end-to-end test checks the quiet terminal itself (tests/test_run_command.py)."""

import logging

import pytest

from workers import logs


@pytest.fixture
def records(caplog):
    logs.install()
    caplog.set_level(logging.INFO)
    return caplog


def _task_line(logger: str, name: str) -> None:
    logging.getLogger(logger).info("Task %(name)s[%(id)s] received", {"name": name, "id": "1"})


def test_probe_lines_go_quiet_at_info_and_other_tasks_do_not(records):
    logging.getLogger("celery.beat").info(
        "Scheduler: Sending due task %s (%s)", "heartbeat-cpu", "workers.tasks.heartbeat"
    )
    _task_line("celery.worker.strategy", "workers.tasks.heartbeat")
    _task_line("celery.app.trace", "workers.tasks.sweep_stale_jobs")
    _task_line("celery.worker.strategy", "workers.training.train_model_run")
    assert [r.getMessage() for r in records.records] == [
        "Task workers.training.train_model_run[1] received"
    ]


def test_they_show_at_debug(records):
    records.set_level(logging.DEBUG)
    _task_line("celery.app.trace", "workers.tasks.heartbeat")
    assert [(r.levelname, r.getMessage()) for r in records.records] == [
        ("DEBUG", "Task workers.tasks.heartbeat[1] received")
    ]
