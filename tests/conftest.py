"""Fixtures for real services: a private Redis per test session and a real Celery worker;
and the tiny models every directory shares (tests/tiny.py), built once per session.

Nothing here is a mock: `redis_server` is a redis-server process on its own port,
`services` points Django, Channels and Celery at it, and `celery_worker` is Celery's embedded
test worker (a real consumer, in a thread) serving every queue. Each is started once per
session and reused by every directory.
"""

from __future__ import annotations

import os
import shutil

import pytest

from tests.tiny import shared_tiny_checkpoint
from webapp.devstack.localredis import LocalRedis, start_local_redis

IN_CI = os.environ.get("CI", "").lower() == "true"


def require_binary(path_or_name: str, why: str) -> str:
    """The binary's path; skip where it is missing, except in CI, where that fails the run."""
    found = shutil.which(path_or_name) or (
        path_or_name if os.access(path_or_name, os.X_OK) else None
    )
    if found:
        return found
    message = f"{path_or_name} is not installed ({why}); .ci/run installs it"
    if IN_CI:
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture(autouse=True, scope="session")
def _one_torch_thread():
    """One intra-op thread (tests/settings.py sets OMP_NUM_THREADS=1 for child processes)."""
    import torch

    torch.set_num_threads(1)


@pytest.fixture(scope="session")
def tiny_checkpoint(tmp_path_factory: pytest.TempPathFactory):
    """A random 2-layer GPT and its vocab-300 tokenizer (tests/tiny.py). Shared: copy before
    changing it (the playground's `make_version` does)."""
    return shared_tiny_checkpoint(tmp_path_factory)


@pytest.fixture(scope="session")
def quiet_tiny_checkpoint(tmp_path_factory: pytest.TempPathFactory):
    """`tiny_checkpoint` whose greedy answers never end by themselves (quiet special tokens)."""
    return shared_tiny_checkpoint(tmp_path_factory, quiet_specials=True)


@pytest.fixture(scope="session")
def django_db_modify_db_settings(tmp_path_factory: pytest.TempPathFactory) -> None:
    """SQLite tests use a file, not memory: worker threads and worker *processes* (the crash
    tests) must see the same database as the test."""
    from django.conf import settings

    db = settings.DATABASES["default"]
    if db["ENGINE"].endswith("sqlite3"):
        db.setdefault("TEST", {})["NAME"] = str(tmp_path_factory.mktemp("db") / "test.sqlite3")


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> LocalRedis:
    if IN_CI:
        require_binary("redis-server", "CI must test against the system Redis")
    server = start_local_redis(tmp_path_factory.mktemp("redis"))
    yield server
    server.stop()


@pytest.fixture(scope="session")
def services(redis_server: LocalRedis, django_test_environment: None) -> str:
    """Point Django settings, the channel layer and Celery at the private Redis."""
    from django.test.utils import override_settings

    from webapp.environment import channel_layers
    from workers.app import app

    url = redis_server.url
    with override_settings(
        REDIS_URL=url,
        CELERY_BROKER_URL=url,
        CELERY_RESULT_BACKEND=url,
        CHANNEL_LAYERS=channel_layers(url),
    ):
        app.conf.update(broker_url=url, result_backend=url)
        yield url


@pytest.fixture(autouse=True)
def _fresh_channel_layer():
    """A new channel layer object per test: channels_redis keeps asyncio locks on the layer,
    and a receive cut short in one test's event loop leaves a lock bound to that loop
    ("is bound to a different event loop" in a later test)."""
    from channels.layers import channel_layers

    channel_layers.backends.clear()
    yield
    channel_layers.backends.clear()


@pytest.fixture(scope="session")
def celery_worker(services: str):
    """A real Celery worker consuming all of Bottega's queues for the whole session."""
    from celery.contrib.testing.worker import start_worker

    from workers.app import QUEUES, app
    from workers.tasks import ping

    # Celery's own start check uses celery.ping, whose result our settings don't keep.
    with start_worker(
        app, pool="solo", queues=list(QUEUES), perform_ping_check=False, shutdown_timeout=30
    ) as worker:
        assert ping.apply_async(kwargs={"queue": "cpu", "sent_at": 0.0}).get(timeout=20)
        yield worker
