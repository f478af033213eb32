"""Cancelling a *running* evaluation through its page, with the real worker: the run ends
`cancelled` within a batch, keeps the result of the (version, task) it finished, and stores
nothing of the task it was on (docs/architecture.md, "Evaluation")."""

import time

import pytest
from django.urls import reverse

from tests.webapp.evaluation.conftest import upload_task
from tests.webapp.fixtures_ml import wait_for
from webapp.evaluation.actions import do_start_evaluation
from webapp.evaluation.models import EvalResult, EvalTask, EvaluationRun

pytestmark = pytest.mark.django_db(transaction=True)

# 200 batches of 32 prompts, each up to 200 greedy tokens: the tiny model (context 64) fills
# its context in a quarter of a second a batch on a quiet machine, so 20 batches ended before a
# cancel could be read; this is most of a minute, where a cancel is read within 3 s (the
# heartbeat) and acted on within a batch.
LONG_YAML = """task: long_gen
output_type: generate_until
doc_to_text: "{{q}}"
doc_to_target: "{{a}}"
generation_kwargs:
  until: ["@@@"]
  max_gen_toks: 200
"""
LONG_ITEMS = [{"q": f"the cat ate {n}", "a": "cheese"} for n in range(6400)]


def test_a_running_evaluation_cancels_within_a_batch_keeping_finished_results(
    alice_client, alice, version, celery_worker
):
    assert upload_task(alice_client).status_code == 302  # words_mc: 3 items, done in a moment
    assert upload_task(alice_client, LONG_YAML, LONG_ITEMS).status_code == 302
    short, long = EvalTask.objects.get(name="words_mc"), EvalTask.objects.get(name="long_gen")
    run = do_start_evaluation(alice, {
        "name": "to cancel", "versions": [version], "harness_tasks": [],
        "task_files": [short, long], "cloze_corpora": [], "bpb_corpora": [],
        "cloze_items": 10, "cloze_seed": 0, "limit": None,
    })  # fmt: skip
    first = wait_for(lambda: EvalResult.objects.filter(run=run).first(), timeout=180)
    assert first.task_label == "words_mc"
    wait_for(lambda: EvaluationRun.objects.get(pk=run.pk).progress > 0.5, timeout=120)

    asked = time.monotonic()
    response = alice_client.post(reverse("evaluation:cancel", args=[run.pk]))
    assert response.status_code == 302
    wait_for(lambda: EvaluationRun.objects.get(pk=run.pk).status == "cancelled", timeout=60)
    took = time.monotonic() - asked
    assert took < 20, f"the cancel took {took:.1f} s"

    run.refresh_from_db()
    assert run.progress < 1 and run.finished_at is not None
    kept = list(EvalResult.objects.filter(run=run))
    assert [r.task_label for r in kept] == ["words_mc"]  # long_gen stored nothing
    assert kept[0].samples_path.exists() and kept[0].n == 3
    page = alice_client.get(run.get_absolute_url()).content.decode()
    assert "Cancelled" in page and f'data-result="{kept[0].pk}"' in page
    assert "Cancel</button>" not in page
    board = alice_client.get(reverse("evaluation:leaderboard")).content.decode()
    assert "words_mc" in board and "long_gen" not in board
    again = alice_client.post(reverse("evaluation:cancel", args=[run.pk]), follow=True)
    assert "nothing to cancel" in again.content.decode()
