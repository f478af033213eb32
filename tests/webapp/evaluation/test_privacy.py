"""A result shows only to who may use its version AND see its task's source: bob evaluates the
version staff share with everyone on his private corpus (cloze, bits per byte) and his private
task file; neither alice nor staff see those columns, figures or items anywhere, while the
harness task's result is everyone's and bob sees all of his."""

import pytest
from django.urls import reverse

from tests.webapp.evaluation.conftest import make_version
from webapp.corpora.models import Corpus
from webapp.evaluation.leaderboard import against_parent
from webapp.evaluation.models import EvalResult, EvalTask, EvaluationRun

pytestmark = pytest.mark.django_db

PRIVATE = ("bobs-diary", "bobs-quiz")


@pytest.fixture
def shared(admin_user, tiny_checkpoint):
    return make_version(admin_user, tiny_checkpoint, name="shared", status="production")


@pytest.fixture
def bobs_results(bob, shared):
    diary = Corpus.objects.create(owner=bob, name="bobs-diary", size_bytes=10, status="ready")
    quiz = EvalTask.objects.create(owner=bob, name="bobs-quiz", config={},
                                   output_type="multiple_choice", items=3)  # fmt: skip
    run = EvaluationRun.objects.create(owner=bob, name="bobs", tasks=[], status="succeeded")
    tasks = {f"cloze:{diary.pk}:s0:n100": ("cloze · bobs-diary", "multiple_choice"),
             f"bpb:{diary.pk}": ("bits per byte · bobs-diary", "bpb"),
             f"file:{quiz.pk}": ("bobs-quiz", "multiple_choice"),
             "harness:piqa": ("piqa", "multiple_choice")}  # fmt: skip
    return {key: EvalResult.objects.create(run=run, version=shared, task_key=key, task_label=label,
                                           output_type=kind, n=3,
                                           metrics={"acc": {"value": 0.5, "stderr": 0.1}})
            for key, (label, kind) in tasks.items()}  # fmt: skip


def pages(client) -> str:
    return "".join(client.get(reverse(name)).content.decode()
                   for name in ("evaluation:leaderboard", "evaluation:export_csv",
                                "evaluation:export_json"))  # fmt: skip


def test_another_users_private_sources_stay_hidden(client, alice, admin_user, shared, bobs_results):
    piqa = bobs_results["harness:piqa"]
    for viewer in (alice, admin_user):  # corpora and task files are private even from staff
        client.force_login(viewer)
        seen = pages(client)
        assert "piqa" in seen and not any(name in seen for name in PRIVATE), viewer
        for key, result in bobs_results.items():
            status = client.get(reverse("evaluation:items", args=[result.pk])).status_code
            assert status == (200 if result is piqa else 404), (viewer, key)
        assert [row["label"] for row in against_parent(viewer, shared)] == ["piqa"]
    page = client.get(shared.get_absolute_url()).content.decode()  # staff open the version
    figures = page[page.index('id="evaluations"') :]
    assert "piqa" in figures and not any(name in figures for name in PRIVATE)


def test_bob_sees_his_own(client, bob, bobs_results):
    client.force_login(bob)
    seen = pages(client)
    assert all(name in seen for name in PRIVATE)
    for result in bobs_results.values():
        assert client.get(reverse("evaluation:items", args=[result.pk])).status_code == 200
