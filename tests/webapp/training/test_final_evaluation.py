"""The run page ends on its version's figure. A run stopped by its time limit (or a cancel)
right after a periodic evaluation, which scores a part of the held-out text, evaluates again
at the same step on all of it; that final evaluation is now stored too (it was dropped as a
repeat, so the page showed 3.5771 and the version 3.6017), and each says how many tokens it
scored. A repeated identical evaluation is still stored once."""

import re

import pytest

from tests.webapp.fixtures_ml import wait_for
from tests.webapp.training.helpers import make_run
from webapp.jobs.reporting import JobReporter
from webapp.registry.models import ModelVersion
from webapp.training.models import RunEvent, TrainingRun
from workers.run_events import RunEvents
from workers.training import train_model_run

pytestmark = pytest.mark.django_db(transaction=True)


def _eval(step, bpb, tokens):
    return {"event": "eval", "step": step, "val_loss": bpb * 2, "val_bpb": bpb, "tokens": tokens,
            "corpora": {}}  # fmt: skip


def test_the_final_evaluation_after_a_periodic_one_at_its_step_is_kept(
    alice, corpus, tokenizer_run
):
    run = make_run(alice, corpus, tokenizer_run)
    with JobReporter(run, run.group) as reporter:
        # (no checkpoint event here, so no quota check: the callback must not be called)
        events = RunEvents(run, reporter, None, over_quota=lambda why: pytest.fail(why))
        for event in [_eval(10, 3.6, 64), _eval(20, 3.5771, 64), _eval(20, 3.5771, 64),
                      {"event": "sample", "step": 20, "prompt": "a", "text": "b"},
                      {"event": "sample", "step": 20, "prompt": "a", "text": "b"},
                      _eval(20, 3.6017, 4_000)]:  # fmt: skip
            events.put(event)
        assert events.close()
    stored = [(e.step, e.data["val_bpb"], e.data["val_tokens"])
              for e in RunEvent.objects.filter(run=run, type="run.metrics").order_by("id")]  # fmt: skip
    assert stored == [(10, 3.6, 64), (20, 3.5771, 64), (20, 3.6017, 4_000)]
    assert RunEvent.objects.filter(run=run, type="run.sample").count() == 1


def test_a_finished_run_says_which_evaluation_each_figure_is(
    alice, alice_client, corpus, tokenizer_run
):
    run = make_run(alice, corpus, tokenizer_run, max_steps=20, eval_every=10)
    train_model_run(run.pk)  # the task, here: the run trains in its supervised child
    wait_for(lambda: TrainingRun.objects.get(pk=run.pk).status in {"succeeded", "failed"},
             timeout=180)  # fmt: skip
    run.refresh_from_db()
    assert run.status == "succeeded", run.error
    last = RunEvent.objects.filter(run=run, type="run.metrics", data__val_bpb__isnull=False).last()
    version = ModelVersion.objects.get(run=run)
    assert last.data["val_tokens"] > 0
    assert last.data["val_bpb"] == pytest.approx(version.val_bpb, abs=1e-4)
    page = alice_client.get(run.get_absolute_url()).content.decode()
    assert "(the final evaluation, on all the held-out text)" in page
    assert 'data-live="val_tokens"' in page
    assert re.search(r"· \d{1,3}(,\d{3})+ parameters ·", page)  # grouped: 20,000, not 20000
    version_page = alice_client.get(version.get_absolute_url()).content.decode()
    assert re.search(r"<dt>Parameters</dt><dd>\d{1,3}(,\d{3})+</dd>", version_page)
    assert "Val bpb (final evaluation)" in version_page
