"""Liveness apart from readiness: a stalled Redis (a real one, SIGSTOPped) makes /readyz and
/healthz answer 503 but leaves /livez at 200, without a query; a Redis outage is one log line
from the threads that beat, and one more when it ends; a 503 is logged once."""

from __future__ import annotations

import logging
import os
import signal
import threading
import urllib.error
import urllib.request

import pytest

from tests.webapp.api.conftest import daphne
from tests.webapp.fixtures_ml import wait_for
from webapp.devstack.localredis import start_local_redis

pytestmark = pytest.mark.django_db


@pytest.fixture
def private_redis(tmp_path, settings):
    server = start_local_redis(tmp_path / "redis")
    settings.REDIS_URL = server.url
    yield server
    if server.process.poll() is None:
        os.kill(server.process.pid, signal.SIGCONT)
    server.stop()


def test_liveness_ignores_a_stalled_redis_readiness_does_not(
    client, private_redis, django_assert_num_queries
):
    os.kill(private_redis.process.pid, signal.SIGSTOP)  # a freeze, not a refusal
    with django_assert_num_queries(0):
        live = client.get("/livez")
    assert live.status_code == 200 and live.json() == {"ok": True}
    for path in ("/readyz", "/healthz"):
        ready = client.get(path)
        assert ready.status_code == 503 and ready.json()["redis"] is False, path


def _beating_thread(name, private_redis, settings, monkeypatch):
    """Start one of the threads that beat into Redis, every 0.1 s; its OutageLog."""
    if name == "alive":
        from workers import alive

        settings.HEALTH_PROBE_SECONDS = 0.1
        alive._stop.clear()
        threading.Thread(target=alive._loop, args=(["cpu"], "w@h"), daemon=True).start()
        return alive._outage, alive._stop.set
    from webapp.training import capacity

    monkeypatch.setattr(capacity, "REFRESH_S", 0.1)
    capacity.start_declaring("outage-test")
    return capacity._outage, capacity.stop_declaring


@pytest.mark.parametrize("name", ["alive", "devices"])
def test_a_redis_outage_is_one_line_and_its_end_another(
    name, private_redis, settings, monkeypatch, caplog, tmp_path
):
    outage, stop = _beating_thread(name, private_redis, settings, monkeypatch)
    restarted = None
    try:
        with caplog.at_level(logging.WARNING):
            private_redis.stop()
            wait_for(lambda: outage.failures >= 5, timeout=60)  # five beats failed
            restarted = start_local_redis(tmp_path / "redis", private_redis.port)
            wait_for(lambda: outage.failures == 0, timeout=60)
            records = list(caplog.records)  # the outage's whole story
    finally:
        stop()  # before Redis goes: a beat after that would start another outage
        if restarted is not None:
            restarted.stop()
    lines = [r.getMessage() for r in records if r.levelno >= logging.WARNING]
    assert len(lines) == 2, lines
    assert "failed (ConnectionError" in lines[0] and "retrying" in lines[0]
    assert "works again" in lines[1] and "failed tries" in lines[1]
    assert not any(r.exc_info for r in records)  # no traceback


def _log_lines(path, needle: str) -> list[str]:
    return [line for line in path.read_text().splitlines() if needle in line]


def test_a_503_is_logged_once(tmp_path, private_redis, transactional_db):
    private_redis.stop()  # readiness: Redis down
    log = tmp_path / "daphne.log"
    with daphne(private_redis.url, tmp_path / "media", log) as url:  # DEBUG on, as `make run`
        with pytest.raises(urllib.error.HTTPError) as caught:
            urllib.request.urlopen(f"{url}/readyz", timeout=10)
        assert caught.value.code == 503
        wait_for(lambda: _log_lines(log, '"GET /readyz"'), timeout=10)  # the access line
    (line,) = [x for x in _log_lines(log, "/readyz") if '"GET /readyz"' not in x]
    assert "not ready: redis" in line
