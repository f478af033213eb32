"""/healthz and a busy `cpu` pool: a real prefork worker whose only pool process is stopped
(SIGSTOP, as a long tokenizer run would hold it) reads as `busy`, not down; a worker that is
gone reads as down once its mark is stale."""

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import redis

from tests.webapp.fixtures_ml import wait_for
from tests.webapp.training.worker_process import children_of
from webapp.system.health import ALIVE_KEY, KEY, queue_health

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def private_db(services):
    """Database 7 of the session's Redis: this worker's broker and marks, apart from the
    embedded worker that consumes every queue on database 0."""
    url = services.rsplit("/", 1)[0] + "/7"
    client = redis.Redis.from_url(url)
    client.flushdb()
    yield url, client
    client.flushdb()
    client.close()


def test_a_worker_whose_pool_is_busy_reads_busy_and_a_dead_one_down(private_db, tmp_path, settings):
    url, client = private_db
    settings.REDIS_URL, settings.HEALTH_PROBE_SECONDS, settings.HEALTH_STALE_SECONDS = url, 1, 4
    env = {**os.environ, "REDIS_URL": url, "BOTTEGA_HEALTH_PROBE_SECONDS": "1"}
    log = (tmp_path / "worker.log").open("wb")
    worker = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "workers", "worker", "-Q", "cpu", "--pool",
         "prefork", "--concurrency", "1", "-n", "busy@%h", "-l", "INFO"],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip
    try:
        wait_for(lambda: client.get(ALIVE_KEY.format(queue="cpu")), timeout=60, every=0.1)
        (pool,) = wait_for(lambda: children_of(worker.pid), timeout=30, every=0.1)
        os.kill(pool, signal.SIGSTOP)  # the only pool process is held: no task runs now
        from workers.app import app

        with app.connection_for_write(url) as broker:  # this worker's broker, not the session's
            app.send_task("workers.tasks.heartbeat", args=("cpu",), queue="cpu", connection=broker)
        cpu = lambda: next(q for q in queue_health(client) if q["queue"] == "cpu")  # noqa: E731
        # The heartbeat waits in the pool, and the alive mark keeps coming while it does:
        # five stale periods later the queue still reads busy, with this worker's name.
        for _ in range(5):
            before = client.get(ALIVE_KEY.format(queue="cpu"))
            wait_for(lambda b=before: client.get(ALIVE_KEY.format(queue="cpu")) != b,
                     timeout=10, every=0.1)  # fmt: skip
        assert client.get(KEY.format(queue="cpu")) is None  # no heartbeat ran
        state = cpu()
        assert (state["ok"], state["state"]) == (True, "busy") and "busy@" in state["worker"]
        os.kill(pool, signal.SIGCONT)  # the heartbeat now runs: up
        wait_for(lambda: cpu()["state"] == "up", timeout=30, every=0.1)
    finally:
        os.killpg(worker.pid, signal.SIGKILL)
        worker.wait(10)
    client.delete(KEY.format(queue="cpu"))
    wait_for(lambda: cpu()["state"] == "down", timeout=30, every=0.2)  # no more alive marks
