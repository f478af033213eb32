"""From the form to a model version, through the real worker; cancel; the form's refusals."""

import pytest
from django.urls import reverse

from tests.webapp.fixtures_ml import wait_for
from tests.webapp.training.helpers import form_data, make_run
from webapp.registry.models import ModelVersion
from webapp.training.models import RunEvent, TrainingRun

pytestmark = pytest.mark.django_db(transaction=True)


def _status(run):
    return TrainingRun.objects.get(pk=run.pk).status


def test_it_trains_a_model_and_registers_a_version(
    alice_client, corpus, tokenizer_run, celery_worker
):
    response = alice_client.post(reverse("training:index"), form_data(corpus, tokenizer_run))
    run = TrainingRun.objects.get()
    assert response["Location"] == run.get_absolute_url()

    wait_for(lambda: _status(run) in {"succeeded", "failed"}, timeout=120)
    run.refresh_from_db()
    assert run.status == "succeeded", run.error
    metrics = [e.data for e in RunEvent.objects.filter(run=run, type="run.metrics")]
    losses = [m["loss"] for m in metrics if m.get("loss") is not None]
    bpbs = [m["val_bpb"] for m in metrics if m.get("val_bpb") is not None]
    assert len(losses) >= 3 and losses[-1] < losses[0]
    assert bpbs and run.best_val_bpb == min(bpbs)
    assert RunEvent.objects.filter(run=run, type="run.sample").exists()

    version = ModelVersion.objects.get()
    assert (version.name, version.version, version.status) == ("tiny-words", 1, "candidate")
    assert version.step == 30 and version.val_bpb == pytest.approx(bpbs[-1], rel=1e-3)
    assert {p.name for p in version.directory.iterdir()} == {
        "model.safetensors",
        "config.json",
        "tokenizer.json",
    }


def test_it_cancels_mid_run_with_a_checkpoint_and_a_version(
    alice, alice_client, corpus, tokenizer_run, celery_worker
):
    run = make_run(alice, corpus, tokenizer_run, enqueue=True, max_steps=100_000, eval_every=5)
    wait_for(
        lambda: RunEvent.objects.filter(
            run=run, type="run.metrics", data__val_bpb__isnull=False
        ).exists(),
        timeout=60,
    )
    alice_client.post(reverse("training:cancel", args=[run.pk]))
    wait_for(lambda: _status(run) == "cancelled", timeout=30)
    run.refresh_from_db()
    assert run.has_checkpoint and run.can_resume
    last_step = RunEvent.objects.filter(run=run).order_by("-id").first().step
    assert last_step < 100_000
    assert ModelVersion.objects.get(run=run).metrics["reason"] == "cancelled"


def test_it_cancels_a_queued_run_at_once(alice, alice_client, corpus, tokenizer_run):
    run = make_run(alice, corpus, tokenizer_run)
    alice_client.post(reverse("training:cancel", args=[run.pk]))
    assert _status(run) == "cancelled"


@pytest.mark.parametrize(
    "changes, field, message",
    [
        ({"d_model": 30, "n_head": 4}, "n_head", "must split into 4 even-sized heads"),
        ({"context": 4}, "context", "greater than or equal to 8"),
        ({"max_steps": 0}, "max_steps", "greater than or equal to 1"),
        ({"lr": 5}, "lr", "less than or equal to 1"),
        ({"preset": "huge"}, "preset", "Select a valid choice"),
        ({"device": "tpu"}, "device", "Select a valid choice"),
    ],
)
def test_it_refuses_impossible_runs_on_the_field(
    alice_client, corpus, tokenizer_run, changes, field, message
):
    response = alice_client.post(
        reverse("training:index"), form_data(corpus, tokenizer_run, **changes)
    )
    assert response.status_code == 200
    assert any(message in e for e in response.context["form"].errors[field]), response.context[
        "form"
    ].errors
    assert not TrainingRun.objects.exists()


def test_the_estimate_endpoint_gives_figures_or_field_errors(alice_client, corpus, tokenizer_run):
    url = reverse("training:estimate")
    good = alice_client.post(url, form_data(corpus, tokenizer_run)).json()
    assert good["ok"] is True
    estimate = good["estimate"]
    assert estimate["tokens_per_step"] == 4 * 32 and estimate["steps"] == 30
    assert estimate["params"] > 0 and estimate["memory_bytes"] > 16 * estimate["params"]
    bad = alice_client.post(url, form_data(corpus, tokenizer_run, d_model=30, n_head=4)).json()
    assert bad["ok"] is False and "n_head" in bad["errors"]


def test_other_users_cannot_see_or_touch_a_run(client, bob, alice, corpus, tokenizer_run):
    run = make_run(alice, corpus, tokenizer_run)
    client.force_login(bob)
    assert client.get(run.get_absolute_url()).status_code == 404
    assert client.post(reverse("training:cancel", args=[run.pk])).status_code == 404
    assert client.post(reverse("training:resume", args=[run.pk])).status_code == 404


def test_a_cancel_flag_left_for_the_same_id_does_not_cancel_a_new_run(
    alice, corpus, tokenizer_run, celery_worker
):
    """A database made again beside the same Redis gives a new run an id whose cancel flag
    (24 h) is still there: in the suite, an earlier test's cancelled run of the same id. The
    claim drops it; before, the new run was cancelled within a second of starting."""
    from webapp.jobs import cancel as cancel_flags
    from webapp.training.actions import _enqueue

    run = make_run(alice, corpus, tokenizer_run)
    cancel_flags.raise_flag(run)  # as a cancelled run of the same id left it
    _enqueue(run)
    wait_for(lambda: _status(run) in {"succeeded", "failed", "cancelled"}, timeout=120)
    run.refresh_from_db()
    assert run.status == "succeeded", (run.status, run.error)
    with cancel_flags.client() as conn:
        assert not conn.exists(cancel_flags.flag_key(run))
