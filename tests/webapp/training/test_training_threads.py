"""The gpu_train worker gives each training process its threads (BOTTEGA_TRAIN_TORCH_THREADS,
else its usable cores divided by the run's processes), and they reach torch in the child: the
count is the child's own torch.get_num_threads(), from its "start" line, which the worker logs."""

import logging
import re

import pytest

from lmcore.threads import share_of_cores
from tests.webapp.fixtures_ml import wait_for
from tests.webapp.training.helpers import make_run
from webapp.training.models import TrainingRun
from workers import training

pytestmark = pytest.mark.django_db(transaction=True)


def _trained_with(caplog, alice, corpus, tokenizer_run, **changes):
    caplog.set_level(logging.INFO, logger="workers.run_events")
    run = make_run(alice, corpus, tokenizer_run, enqueue=True, max_steps=4, **changes)
    wait_for(lambda: TrainingRun.objects.get(pk=run.pk).status in {"succeeded", "failed"}, 180)
    run.refresh_from_db()
    assert run.status == "succeeded", run.error
    said = [r.getMessage() for r in caplog.records if r.name == "workers.run_events"]
    (threads,) = [int(m.group(1)) for line in said
                  if (m := re.match(rf"run {run.pk} trains with (\d+) intra-op threads", line))]  # fmt: skip
    return threads


def test_the_setting_reaches_every_process_of_a_run(
    caplog, settings, alice, corpus, tokenizer_run, celery_worker
):
    # 3 on a 2-core machine: neither torch's default (the cores) nor torchrun's (1 per rank)
    settings.TRAIN_TORCH_THREADS = 3
    assert _trained_with(caplog, alice, corpus, tokenizer_run, devices=2) == 3


def test_by_default_one_process_takes_the_workers_cores(
    caplog, settings, alice, corpus, tokenizer_run, celery_worker, monkeypatch
):
    settings.TRAIN_TORCH_THREADS = 0
    monkeypatch.setenv("OMP_NUM_THREADS", "1")  # what the child would use if not told
    expected = share_of_cores(1)
    assert training.train_threads(1) == expected and training.train_threads(2) == share_of_cores(2)
    assert _trained_with(caplog, alice, corpus, tokenizer_run) == expected
