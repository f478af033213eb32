import pytest

from webapp.system import probes

pytestmark = pytest.mark.django_db


def test_it_reports_every_queue_with_a_round_trip(client, celery_worker):
    response = client.get("/healthz")  # anonymous on purpose: load balancers call it
    assert response.status_code == 200
    body = response.json()
    assert body["ok"] is True
    assert body["database"]["ok"] and body["redis"]["ok"]
    assert [q["queue"] for q in body["queues"]] == ["cpu", "gpu_train", "gpu_infer"]
    for queue in body["queues"]:
        assert queue["ok"], queue
        assert 0 < queue["rtt_ms"] < 3000
        assert queue["worker"]  # the embedded test worker reports the bare host name
        assert celery_worker.hostname in queue["consumers"]


def test_it_reports_a_queue_nobody_consumes(celery_worker):
    results = probes.probe_queues(queues=("cpu", "nobody_home"), timeout=1.0)
    by_queue = {r["queue"]: r for r in results}
    assert by_queue["cpu"]["ok"]
    assert not by_queue["nobody_home"]["ok"]
    assert by_queue["nobody_home"]["error"] == "no worker answered within 1 s"
    assert by_queue["nobody_home"]["consumers"] == []


def test_it_answers_503_when_redis_is_down(client, settings):
    settings.REDIS_URL = "redis://127.0.0.1:1/0"
    response = client.get("/healthz")
    assert response.status_code == 503
    body = response.json()
    assert body["ok"] is False and body["redis"]["ok"] is False
    assert all(q["error"] == "Redis is down" for q in body["queues"])
    assert body["database"]["ok"] is True


def test_it_refuses_other_methods(client):
    assert client.post("/healthz").status_code == 405
