"""Which worker an evaluation goes to: small models to the `cpu` pool, bigger ones to
`gpu_infer`, where the accelerator is (docs/architecture.md, "Evaluation")."""

import pytest
from django.urls import reverse

from webapp.evaluation.models import EvaluationRun

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(("params", "queue"), [(1_000, "cpu"), (30_000_000, "gpu_infer")])
def test_it_sends_a_run_where_its_largest_version_fits(alice_client, version, settings, params,
                                                       queue):  # fmt: skip
    settings.EVAL_CPU_MAX_PARAMS = 20_000_000
    version.params = params
    version.save(update_fields=["params"])
    response = alice_client.post(reverse("evaluation:index"), {
        "name": "where", "versions": [version.pk], "harness_tasks": "piqa",
        "cloze_items": 10, "cloze_seed": 0,
    })  # fmt: skip
    assert response.status_code == 302
    assert EvaluationRun.objects.get().queue == queue
