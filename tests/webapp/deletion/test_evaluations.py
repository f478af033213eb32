"""Deleting evaluations, their task files, and what they read (webapp/evaluation/deletion.py):
each goes with its own files; an evaluation refuses the deletion of what it reads while it
runs; a version's results go with the version; the pages are the owner's only."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from tests.webapp.deletion.conftest import make_corpus, make_version
from webapp import deletion
from webapp.evaluation.actions import do_create_task_file
from webapp.evaluation.models import EvalResult, EvalTask, EvaluationRun

pytestmark = pytest.mark.django_db(transaction=True)


def make_evaluation(owner, versions, corpora=(), tasks=(), status="succeeded") -> EvaluationRun:
    """A run with a result per version, each with its samples file in the run's directory."""
    run = EvaluationRun.objects.create(owner=owner, name="eval", status=status)
    run.versions.set(versions)
    run.corpora.set(corpora)
    run.task_files.set(tasks)
    run.directory.mkdir(parents=True)
    for version in versions:
        result = EvalResult.objects.create(run=run, version=version, task_key="bpb:1",
                                           task_label="bpb", output_type="bpb", n=1,
                                           metrics={"bpb": {"value": 1.5, "stderr": 0.1}})  # fmt: skip
        result.samples_path.write_text('{"bpb": 1.5}\n', encoding="utf-8")
    return run


def make_task(owner, tmp_path) -> EvalTask:
    items = tmp_path / f"items-{owner.pk}.jsonl"
    items.write_text('{"context": "a", "choices": ["b"], "gold": 0}\n', encoding="utf-8")
    return do_create_task_file(owner, {"task": "words", "output_type": "multiple_choice"}, 1, items)


@pytest.fixture
def evaluated(alice, tmp_path):
    """alice's two versions, a corpus and a task file, and an evaluation of all of them."""
    one, two = make_version(alice, name="one"), make_version(alice, name="two")
    corpus, task = make_corpus(alice, tmp_path), make_task(alice, tmp_path)
    run = make_evaluation(alice, [one, two], [corpus], [task])
    return {"run": run, "one": one, "two": two, "corpus": corpus, "task": task}


def test_an_evaluation_goes_with_its_results_and_files_and_leaves_what_it_read(evaluated):
    run = evaluated["run"]
    texts = [e.text for e in deletion.plan_for(run).effects]
    assert texts == ["its versions, corpora and task files are not touched",
                     "its 2 results leave the leaderboard"]  # fmt: skip
    assert deletion.delete(run).deleted
    assert not run.directory.exists() and not EvalResult.objects.exists()
    assert evaluated["one"].directory.exists() and evaluated["corpus"].path.exists()
    assert evaluated["task"].items_path.exists()


def test_a_version_takes_its_results_and_the_evaluation_keeps_the_others(evaluated):
    run, one, two = evaluated["run"], evaluated["one"], evaluated["two"]
    texts = [e.text for e in deletion.plan_for(one).effects]
    assert f"evaluation “eval” #{run.pk} loses this version's results" in texts
    assert deletion.delete(one).deleted
    assert list(EvalResult.objects.values_list("version_id", flat=True)) == [two.pk]
    assert run.directory.exists() and not one.directory.exists()


def test_a_task_file_goes_with_its_items_and_the_evaluation_keeps_its_results(evaluated):
    run, task = evaluated["run"], evaluated["task"]
    plan = deletion.plan_for(task)
    assert plan.kind == "evaluation task" and plan.paths == [task.directory]
    assert f"evaluation “eval” #{run.pk} keeps its results on this task" in [
        e.text for e in plan.effects
    ]
    assert deletion.delete(task).deleted
    assert not task.directory.exists() and EvalResult.objects.count() == 2


def test_a_running_evaluation_refuses_the_deletion_of_what_it_reads(alice, evaluated):
    busy = make_evaluation(alice, [evaluated["one"]], [evaluated["corpus"]], status="running")
    for target in (evaluated["corpus"], evaluated["one"]):
        outcome = deletion.delete(target)
        assert not outcome.deleted
        assert [e.text for e in outcome.plan.refusals] == [
            f"refused: it is read by evaluation “eval” #{busy.pk}, which is running: cancel it first"
        ]
    assert evaluated["corpus"].path.exists() and evaluated["one"].directory.exists()


def test_a_running_evaluation_is_cancelled_and_deleted_once_it_has_stopped(alice, evaluated):
    run = make_evaluation(alice, [evaluated["one"]], status="running")
    assert (
        deletion.plan_for(run)
        .effects[0]
        .text.startswith("this evaluation is running: it is cancelled now")
    )
    outcome = deletion.delete(run)
    assert outcome.deferred and not outcome.deleted
    run.refresh_from_db()
    assert run.status == "cancelling" and run.delete_requested and run.directory.exists()
    EvaluationRun.objects.filter(pk=run.pk).update(
        status="cancelled", finished_at=timezone.now() - timedelta(minutes=1)
    )
    assert deletion.finish_requested_deletions() == 1
    assert not run.directory.exists() and not EvaluationRun.objects.filter(pk=run.pk).exists()


def test_the_pages_are_the_owners_only(client, alice, bob, admin_user, evaluated):
    run, task = evaluated["run"], evaluated["task"]
    pages = [f"/evaluate/{run.pk}/delete/", f"/evaluate/tasks/{task.pk}/delete/"]
    for user in (bob, admin_user):
        client.force_login(user)
        assert [client.post(url).status_code for url in pages] == [404, 404]
    client.force_login(alice)
    assert "Delete evaluation task “words”?" in client.get(pages[1]).content.decode()
    for url in pages:
        assert client.post(url).status_code == 302
    assert not run.directory.exists() and not task.directory.exists()
