"""/healthz: up/down for anyone from the beat's heartbeats (nothing enqueued per call, no host
names); staff also get the details."""

import pytest
from django.conf import settings

from tests.webapp.heartbeats import beat_once

pytestmark = pytest.mark.django_db


def test_anonymous_callers_get_up_or_down_and_no_host_names(client, celery_worker):
    beat_once()
    response = client.get("/healthz")  # anonymous on purpose: load balancers call it
    assert response.status_code == 200
    assert response.json() == {
        "ok": True,
        "database": True,
        "redis": True,
        "queues": {"cpu": True, "gpu_train": True, "gpu_infer": True},
    }
    assert celery_worker.hostname.split("@")[-1] not in response.content.decode()


def test_a_call_enqueues_nothing(client, celery_worker, services):
    import redis

    beat_once()
    broker = redis.Redis.from_url(services)
    before = {q: broker.llen(q) for q in settings.TASK_QUEUES}
    for _ in range(20):
        assert client.get("/healthz").status_code == 200
    assert {q: broker.llen(q) for q in settings.TASK_QUEUES} == before
    broker.close()


def test_staff_get_each_queues_heartbeat_and_worker(admin_client, celery_worker):
    beat_once()
    body = admin_client.get("/healthz").json()
    assert body["ok"] and body["database"]["ok"] and body["redis"]["ok"]
    assert [q["queue"] for q in body["queues"]] == ["cpu", "gpu_train", "gpu_infer"]
    for queue in body["queues"]:
        assert queue["ok"] and 0 <= queue["age_s"] < settings.HEALTH_STALE_SECONDS, queue
        # the embedded test worker reports the bare host name
        assert queue["worker"] and queue["worker"] in celery_worker.hostname


def test_a_queue_whose_heartbeat_is_stale_is_down(client, celery_worker, settings):
    beat_once()
    settings.HEALTH_STALE_SECONDS = 0  # every heartbeat is now too old
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json()["queues"] == {"cpu": False, "gpu_train": False, "gpu_infer": False}


def test_it_answers_503_when_redis_is_down(client, settings):
    settings.REDIS_URL = "redis://127.0.0.1:1/0"
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json() == {"ok": False, "database": True, "redis": False, "queues": {}}


def test_it_refuses_other_methods(client):
    assert client.post("/healthz").status_code == 405
