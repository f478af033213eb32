"""The leaderboard's order and links, on results stored directly: sorting by a task puts the
best first (lowest for bits per byte), bits per byte (one figure over a corpus) has no items to
drill into, and a version's page shows its figures against its parent's."""

import re

import pytest
from django.urls import reverse

from tests.webapp.evaluation.conftest import make_version
from webapp.evaluation.models import EvalResult, EvaluationRun

pytestmark = pytest.mark.django_db


@pytest.fixture
def results(alice, version, tiny_checkpoint):
    other = make_version(alice, tiny_checkpoint, name="tiny", version=2, parent=version)
    run = EvaluationRun.objects.create(owner=alice, name="done", tasks=[], status="succeeded")
    figures = {version: (0.3, 1.5), other: (0.6, 2.5)}  # v2: better acc, worse bpb
    made = {}
    for v, (acc, bpb) in figures.items():
        made[v.version, "mc"] = EvalResult.objects.create(
            run=run, version=v, task_key="file:1", task_label="mc", output_type="multiple_choice",
            metrics={"acc": {"value": acc, "stderr": 0.1}}, n=3)  # fmt: skip
        made[v.version, "bpb"] = EvalResult.objects.create(
            run=run, version=v, task_key="bpb:1", task_label="bits per byte · c",
            output_type="bpb", metrics={"bpb": {"value": bpb, "stderr": None}}, n=900)  # fmt: skip
    return made


def order(client, sort: str) -> list[str]:
    html = client.get(reverse("evaluation:leaderboard"), {"sort": sort}).content.decode()
    return re.findall(r'<tr><td><a href="[^"]+">alice/tiny (v\d)</a>', html)


def test_sorting_by_a_task_puts_the_best_first(alice_client, results):
    assert order(alice_client, "") == ["v1", "v2"]  # by name
    assert order(alice_client, "file:1") == ["v2", "v1"]  # highest accuracy first
    assert order(alice_client, "bpb:1") == ["v1", "v2"]  # lowest bits per byte first


def test_bits_per_byte_has_no_items_to_open(alice_client, results):
    board = alice_client.get(reverse("evaluation:leaderboard")).content.decode()
    mc, bpb = results[1, "mc"], results[1, "bpb"]
    assert reverse("evaluation:items", args=[mc.pk]) in board
    assert reverse("evaluation:items", args=[bpb.pk]) not in board
    page = alice_client.get(reverse("evaluation:items", args=[bpb.pk])).content.decode()
    assert "it has no items" in page and "?page=2" not in page


def test_a_versions_page_shows_its_figures_against_its_parents(alice_client, results):
    html = alice_client.get(results[2, "mc"].version.get_absolute_url()).content.decode()
    section = html[html.index('id="evaluations"') :]
    rows = re.findall(r"<tr>(.*?)</tr>", section[section.index("<tbody>") :], re.S)
    text = [re.sub(r"<[^>]+>|\s+", " ", row).split() for row in rows]
    assert "Parent (tiny v1)" in section
    mc = next(r for r in text if r[0] == "mc")
    bpb = next(r for r in text if r[0] == "bits")
    assert mc[1:] == ["acc", "0.6000", "±", "0.1000", "0.3000", "±", "0.1000", "0.3000", "(better)"]
    assert bpb[-4:] == ["2.5000", "1.5000", "1.0000", "(worse)"]


def test_columns_of_one_label_say_what_tells_them_apart(alice_client, alice, version):
    """Two cloze tests of one corpus (another seed and size), and two task files of one name:
    four columns, none of them looking like another."""
    run = EvaluationRun.objects.create(owner=alice, name="two", tasks=[], status="succeeded")
    keys = {"cloze:4:s1:n200": "cloze · words", "cloze:4:s2:n50": "cloze · words",
            "file:7": "quiz", "file:9": "quiz"}  # fmt: skip
    for key, label in keys.items():
        EvalResult.objects.create(run=run, version=version, task_key=key, task_label=label,
                                  output_type="multiple_choice", n=3,
                                  metrics={"acc": {"value": 0.5, "stderr": 0.1}})  # fmt: skip
    board = alice_client.get(reverse("evaluation:leaderboard")).content.decode()
    for shown in ("cloze · words (#4, seed 1, 200 items)", "cloze · words (#4, seed 2, 50 items)",
                  "quiz (file:7)", "quiz (file:9)"):  # fmt: skip
        assert shown in board
