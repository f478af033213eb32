"""A training run whose writes take its owner past the storage quota stops at its next
checkpoint, through the real gpu_train supervisor and lmcore child: the checkpoint is kept,
the run says why, and Resume is refused until there is room, then continues."""

import pytest
from django.urls import reverse

from tests.webapp.fixtures_ml import wait_for
from tests.webapp.training.helpers import make_run
from webapp.training.models import RunEvent, TrainingRun

pytestmark = pytest.mark.django_db(transaction=True)


def _run(run) -> TrainingRun:
    return TrainingRun.objects.get(pk=run.pk)


def test_a_run_over_quota_stops_at_its_checkpoint(
    alice, alice_client, corpus, tokenizer_run, celery_worker, settings
):
    run = make_run(alice, corpus, tokenizer_run, enqueue=True, max_steps=100_000, eval_every=10)
    wait_for(lambda: RunEvent.objects.filter(run=run, step__gte=1).exists(), timeout=120)
    settings.STORAGE_QUOTA_BYTES = 1  # an administrator lowers the quota while it trains
    wait_for(lambda: _run(run).status == "cancelled", timeout=120)
    run = _run(run)
    assert run.error.startswith("Stopped at step ") and "whose checkpoint is kept" in run.error
    assert "storage quota" in run.error and run.error.endswith("Then Resume continues from it.")
    assert run.has_checkpoint and run.can_resume
    assert RunEvent.objects.filter(run=run).order_by("-step").first().step < 100

    response = alice_client.post(reverse("training:resume", args=[run.pk]), follow=True)
    assert _run(run).status == "cancelled"  # refused while over quota, saying so
    assert "No new job while over quota" in response.content.decode()
    settings.STORAGE_QUOTA_BYTES = 10 << 30  # room again (something deleted, or raised)
    alice_client.post(reverse("training:resume", args=[run.pk]))
    wait_for(lambda: _run(run).status == "running", timeout=60)
    alice_client.post(reverse("training:cancel", args=[run.pk]))
    wait_for(lambda: _run(run).status == "cancelled", timeout=120)
    assert _run(run).error == ""  # a plain cancel this time
