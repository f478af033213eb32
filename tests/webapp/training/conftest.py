"""Fixtures of the training tests that start worker processes of their own."""

import pytest


@pytest.fixture
def no_embedded_trainer(celery_worker):
    """The embedded test worker stops consuming gpu_train for one test (Celery's remote
    control), so that the worker process the test starts is the only one that claims runs."""
    from workers.app import app

    app.control.cancel_consumer("gpu_train", destination=[celery_worker.hostname], reply=True)
    yield
    app.control.add_consumer("gpu_train", destination=[celery_worker.hostname], reply=True)
