"""A run that is never silent, and one that barely trained says so: through the real worker,
the trainer's phases become run events, its end is recorded on the run, and the warning
shows on the run page, its version's page and the playground."""

import pytest
from django.urls import reverse

from tests.webapp.fixtures_ml import wait_for
from tests.webapp.training.helpers import form_data
from webapp.registry.models import ModelVersion
from webapp.training.models import PHASES, RunEvent, TrainingRun

pytestmark = pytest.mark.django_db(transaction=True)


def test_phases_reach_the_run_events_and_a_short_run_is_flagged(
    alice_client, corpus, tokenizer_run, celery_worker
):
    alice_client.post(reverse("training:index"), form_data(corpus, tokenizer_run))
    run = TrainingRun.objects.get()
    wait_for(lambda: TrainingRun.objects.get(pk=run.pk).status in {"succeeded", "failed"},
             timeout=120)  # fmt: skip
    run.refresh_from_db()
    assert run.status == "succeeded", run.error

    phases = [e.data["phase"] for e in RunEvent.objects.filter(run=run, type="run.phase")]
    assert phases[:3] == ["starting", "encoding", "training"]
    assert phases[3:6] == ["evaluating", "saving", "training"]  # at step 10 (eval_every)
    assert phases[-2:] == ["evaluating", "saving"]  # the final evaluation
    encoding = RunEvent.objects.filter(run=run, type="run.phase", data__phase="encoding").get()
    assert set(PHASES) >= set(phases) and encoding.step == 0
    steps = [e.data for e in RunEvent.objects.filter(run=run, type="run.metrics")
             if e.data.get("loss") is not None]  # fmt: skip
    assert [s["progress"] for s in steps] == [pytest.approx(1 / 3, abs=1e-3),
                                              pytest.approx(2 / 3, abs=1e-3), 1.0]  # fmt: skip
    assert steps[-1]["tokens"] == 30 * 4 * 32

    # 30 steps: barely trained, because of the step limit; the same words everywhere.
    assert run.warning.startswith("Barely trained") and "step limit was 30" in run.warning
    assert 0 < run.train_seconds < run.wall_seconds
    version = ModelVersion.objects.get()
    assert version.metrics["warning"] == run.warning
    for url in (run.get_absolute_url(), version.get_absolute_url()):
        page = alice_client.get(url).content.decode()
        assert 'id="barely-trained"' in page and "step limit was 30" in page
    runs = alice_client.get(reverse("training:index")).content.decode()
    assert ">barely trained</span>" in runs
    playground = alice_client.get(reverse("playground:index")).content.decode()
    assert 'data-warning="Barely trained' in playground
