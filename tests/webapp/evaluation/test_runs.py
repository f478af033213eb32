"""Evaluation runs from the form to stored results, through the real worker and socket; the
leaderboard, its exports and the drill-down; limits and access."""

import csv
import io

import pytest
from channels.testing import WebsocketCommunicator
from django.urls import reverse

from tests.webapp.evaluation.conftest import upload_task
from tests.webapp.fixtures_ml import wait_for
from webapp.asgi import application
from webapp.evaluation.models import EvalResult, EvalTask, EvaluationRun

pytestmark = pytest.mark.django_db(transaction=True)


def start(client, version, **fields):
    data = {"name": "check", "versions": [version.pk], "cloze_items": 40, "cloze_seed": 0, **fields}
    return client.post(reverse("evaluation:index"), data)


def finished(run: EvaluationRun) -> EvaluationRun:
    wait_for(lambda: EvaluationRun.objects.get(pk=run.pk).status in ("succeeded", "failed",
                                                                     "cancelled"), timeout=240)  # fmt: skip
    run.refresh_from_db()
    return run


def test_it_evaluates_a_version_on_a_task_file_cloze_and_bpb(
    alice_client, version, long_corpus, celery_worker
):
    assert upload_task(alice_client).status_code == 302
    task = EvalTask.objects.get()
    response = start(alice_client, version, task_files=[task.pk],
                     cloze_corpora=[long_corpus.pk], bpb_corpora=[long_corpus.pk])  # fmt: skip
    run = EvaluationRun.objects.get()
    assert response.status_code == 302 and response["Location"] == run.get_absolute_url()
    assert finished(run).status == "succeeded", run.error
    results = {r.task_label: r for r in EvalResult.objects.filter(run=run)}
    assert set(results) == {"words_mc", "cloze · long", "bits per byte · long"}
    mc = results["words_mc"]
    assert mc.n == 3 and set(mc.metrics["acc"]) == {"value", "stderr"}
    assert results["cloze · long"].n > 10
    assert 0 < results["bits per byte · long"].metrics["bpb"]["value"] < 20
    page = alice_client.get(reverse("evaluation:items", args=[mc.pk]))
    assert "gold" in page.content.decode() and "the mouse ate" in page.content.decode()
    board = alice_client.get(reverse("evaluation:leaderboard")).content.decode()
    assert "words_mc" in board and "alice/tiny v1" in board
    rows = list(
        csv.DictReader(
            io.StringIO(alice_client.get(reverse("evaluation:export_csv")).content.decode())
        )
    )
    assert {(r["task"], r["metric"]) for r in rows} >= {
        (mc.task_key, "acc"),
        (mc.task_key, "acc_norm"),
    }
    json_rows = alice_client.get(reverse("evaluation:export_json")).json()["results"]
    assert len(json_rows) == len(rows)
    assert "Evaluations" in alice_client.get(version.get_absolute_url()).content.decode()


async def test_the_socket_sends_status_and_results(alice_client, version, celery_worker):
    from asgiref.sync import sync_to_async

    response = await sync_to_async(upload_task)(alice_client)
    assert response.status_code == 302
    task = await EvalTask.objects.aget()
    await sync_to_async(start)(alice_client, version, task_files=[task.pk])
    run = await EvaluationRun.objects.aget()
    cookie = f"sessionid={alice_client.cookies['sessionid'].value}".encode()
    socket = WebsocketCommunicator(application, f"/ws/evaluations/{run.pk}/",
                                   headers=[(b"origin", b"http://localhost"), (b"cookie", cookie)])  # fmt: skip
    assert (await socket.connect())[0]
    seen = []
    while not any(m.get("status") == "succeeded" for m in seen):
        seen.append(await socket.receive_json_from(timeout=240))
    await socket.disconnect()
    results = [m for m in seen if m["type"] == "eval.result"]
    assert [r["label"] for r in results] == ["words_mc"] and results[0]["n"] == 3


@pytest.mark.slow  # lm-evaluation-harness indexes its thousands of tasks: tens of seconds
def test_a_harness_dataset_that_cannot_be_fetched_fails_the_run_clearly(
    alice_client, version, celery_worker, monkeypatch
):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    start(alice_client, version, harness_tasks="arc_easy")
    run = finished(EvaluationRun.objects.get())
    assert run.status == "failed"
    assert run.error.startswith("arc_easy: its dataset cannot be fetched")
    assert "Traceback" not in run.error and not EvalResult.objects.exists()


def test_a_task_file_with_code_is_refused_with_its_line(alice_client):
    yaml_text = "task: evil\noutput_type: multiple_choice\ndoc_to_text: !function utils.f\n"
    response = upload_task(alice_client, yaml_text)
    assert response.status_code == 400
    assert "words.yaml line 3: !function imports Python" in response.content.decode()
    assert not EvalTask.objects.exists()


def test_it_counts_against_the_job_limit(alice_client, alice, version, settings):
    settings.USER_LIMIT_JOBS = 1
    run = EvaluationRun.objects.create(owner=alice, name="busy", tasks=[])  # queued
    response = start(alice_client, version, bpb_corpora=[], harness_tasks="piqa")
    assert response.status_code == 200
    assert "your limit is 1 at once" in response.content.decode()
    assert EvaluationRun.objects.count() == 1 and run.status == "queued"


def test_others_see_neither_a_private_version_nor_its_results(client, bob, alice, version):
    run = EvaluationRun.objects.create(owner=alice, name="mine", tasks=[], status="succeeded")
    result = EvalResult.objects.create(run=run, version=version, task_key="harness:piqa",
                                       task_label="piqa", output_type="multiple_choice",
                                       metrics={"acc": {"value": 0.5, "stderr": 0.1}}, n=2)  # fmt: skip
    client.force_login(bob)
    assert "piqa" not in client.get(reverse("evaluation:leaderboard")).content.decode()
    assert client.get(reverse("evaluation:items", args=[result.pk])).status_code == 404
    assert client.get(reverse("evaluation:export_json")).json() == {"results": []}
    assert client.get(run.get_absolute_url()).status_code == 404
    form = client.get(reverse("evaluation:index")).context["form"]
    assert version not in form.fields["versions"].queryset
