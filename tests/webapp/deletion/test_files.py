"""webapp/deletion.py: each object goes with its files and only its files; dependants get
what the plan said; a rolled-back transaction removes nothing; the admin removes files too."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import transaction
from django.utils import timezone

from tests.webapp.deletion.conftest import (
    files_under,
    make_corpus,
    make_tokenizer,
    make_training,
    make_version,
)
from webapp import deletion
from webapp.corpora.models import Corpus
from webapp.registry.models import ModelVersion
from webapp.tokenization.models import TokenizerRun
from webapp.training.models import RunEvent, TrainingRun

pytestmark = pytest.mark.django_db(transaction=True)


def snapshot(world: dict) -> dict:
    """Every file of a world, with its bytes: what must be untouched."""
    roots = [world["corpus"].path, world["tokenizer"].directory, world["run"].directory,
             world["version"].directory]  # fmt: skip
    return {p: p.read_bytes() for r in roots for p in ([r] if r.is_file() else files_under(r))}


def unchanged(before: dict) -> bool:
    return all(p.exists() and p.read_bytes() == data for p, data in before.items())


def test_a_corpus_goes_with_its_file_and_its_runs_keep_theirs(alice_world, bob_world):
    corpus, run = alice_world["corpus"], alice_world["run"]
    bobs = snapshot(bob_world)
    plan = deletion.plan_for(corpus)
    texts = [e.text for e in plan.effects]
    assert f"training run “m” #{run.pk} keeps its encoded data" in texts
    assert any("keeps its tokenizer" in t for t in texts)
    assert plan.allowed and plan.files and plan.bytes == corpus.path.stat().st_size

    outcome = deletion.delete(corpus)
    assert outcome.deleted and outcome.files_left == []
    assert not corpus.path.exists() and not Corpus.objects.filter(pk=corpus.pk).exists()
    assert (run.directory / "data" / "train.bin").exists()  # the encoded data stays
    assert alice_world["tokenizer"].tokenizer_path.exists()
    assert unchanged(bobs)


def test_a_tokenizer_used_by_a_training_run_is_refused_then_goes_with_its_directory(
    alice_world, bob_world
):
    tokenizer, run, version = alice_world["tokenizer"], alice_world["run"], alice_world["version"]
    bobs = snapshot(bob_world)
    outcome = deletion.delete(tokenizer)
    assert not outcome.deleted
    assert [e.text for e in outcome.plan.refusals] == [
        f"refused: training run “m” #{run.pk} uses this tokenizer: delete that run first "
        "(its model versions stay)"
    ]
    assert tokenizer.tokenizer_path.exists()

    assert deletion.delete(run).deleted
    plan = deletion.plan_for(tokenizer)
    assert plan.allowed and any(
        "keeps its own copy of the tokenizer" in e.text for e in plan.effects
    )
    assert deletion.delete(tokenizer).deleted
    assert not tokenizer.directory.exists()
    assert not TokenizerRun.objects.filter(pk=tokenizer.pk).exists()
    version.refresh_from_db()
    assert version.tokenizer is None and (version.directory / "tokenizer.json").exists()
    assert unchanged(bobs)


def test_a_training_run_goes_with_its_directory_and_events_and_its_version_stays(
    alice_world, bob_world
):
    run, version = alice_world["run"], alice_world["version"]
    bobs = snapshot(bob_world)
    version_files = {p: p.read_bytes() for p in files_under(version.directory)}
    plan = deletion.plan_for(run)
    assert f"version “{version}” stays: it has its own copy of the weights and tokenizer" in [
        e.text for e in plan.effects
    ]
    assert deletion.delete(run).deleted
    assert not run.directory.exists()
    assert not TrainingRun.objects.filter(pk=run.pk).exists()
    assert not RunEvent.objects.filter(run_id=run.pk).exists()
    version.refresh_from_db()
    assert version.run is None and unchanged(version_files)  # registry: versions never change
    assert unchanged(bobs)


def test_a_version_goes_with_its_directory_and_its_dependants_keep_theirs(
    alice, alice_world, bob_world
):
    from webapp.playground.models import Conversation

    version, run = alice_world["version"], alice_world["run"]
    child = make_version(alice, None, name="m", tokenizer=alice_world["tokenizer"],
                         is_chat=True, parent=version)  # fmt: skip
    chat = Conversation.objects.create(owner=alice, title="hi", mode="chat",
                                       model_version=version)  # fmt: skip
    bobs = snapshot(bob_world)
    texts = [e.text for e in deletion.plan_for(version).effects]
    assert f"chat version “{child}”, fine-tuned from it, keeps its own weights" in texts
    assert "conversation “hi” keeps its messages and names no model" in texts

    assert deletion.delete(version).deleted
    assert not version.directory.exists() and not ModelVersion.objects.filter(pk=version.pk)
    child.refresh_from_db()
    chat.refresh_from_db()
    assert child.parent is None and (child.directory / "model.safetensors").exists()
    assert chat.model_version is None and chat.title == "hi"
    assert run.directory.exists()
    assert unchanged(bobs)


def test_a_version_a_running_finetune_starts_from_is_refused(alice, alice_world):
    version = alice_world["version"]
    finetune = make_training(alice, alice_world["tokenizer"], status="running", parent=version,
                             train_config={"init_from": str(version.directory)})  # fmt: skip
    outcome = deletion.delete(version)
    assert not outcome.deleted and version.directory.exists()
    assert [e.text for e in outcome.plan.refusals] == [
        f"refused: it starts from it in fine-tuning run “m” #{finetune.pk}, which is running: "
        "cancel it first"
    ]


def test_a_corpus_a_queued_run_reads_is_refused(alice, alice_world):
    corpus = alice_world["corpus"]
    queued = make_training(alice, alice_world["tokenizer"], [corpus], status="queued")
    outcome = deletion.delete(corpus)
    assert not outcome.deleted and corpus.path.exists()
    assert outcome.plan.refusals[0].url == queued.get_absolute_url()


def test_a_queued_job_is_cancelled_then_deleted(alice, alice_world):
    queued = make_training(alice, alice_world["tokenizer"], status="queued")
    assert "this training run is queued: it is cancelled first" in [
        e.text for e in deletion.plan_for(queued).effects
    ]
    assert deletion.delete(queued).deleted
    assert not queued.directory.exists()


@pytest.mark.parametrize("status", ["running", "cancelling"])
def test_a_running_job_is_cancelled_then_deleted_by_the_sweep_once_stopped(alice, status):
    from workers.tasks import sweep_stale_jobs

    tokenizer = make_tokenizer(alice, status=status, name="busy")
    plan = deletion.plan_for(tokenizer)
    assert plan.allowed and "deleted with its files once it has stopped" in plan.effects[0].text
    outcome = deletion.delete(tokenizer)
    assert outcome.deferred and not outcome.deleted
    tokenizer.refresh_from_db()
    assert tokenizer.status == "cancelling" and tokenizer.delete_requested
    assert not TokenizerRun.objects.for_user(alice).filter(pk=tokenizer.pk).exists()  # hidden
    sweep_stale_jobs()
    assert tokenizer.directory.exists()  # still running: its worker may write there

    assert tokenizer.finish("cancelled")  # the worker stops
    sweep_stale_jobs()
    assert tokenizer.directory.exists()  # its worker may read the row once more
    settled = timezone.now() - timedelta(seconds=60)
    TokenizerRun.objects.filter(pk=tokenizer.pk).update(finished_at=settled)
    sweep_stale_jobs()
    assert not tokenizer.directory.exists()
    assert not TokenizerRun.objects.filter(pk=tokenizer.pk).exists()


def test_a_rolled_back_deletion_removes_no_file(alice_world):
    everything, pk = snapshot(alice_world), alice_world["version"].pk

    class Abort(Exception):
        pass

    with pytest.raises(Abort), transaction.atomic():
        alice_world["version"].delete()
        alice_world["run"].delete()
        Corpus.objects.filter(pk=alice_world["corpus"].pk).delete()
        raise Abort
    assert unchanged(everything)
    assert ModelVersion.objects.filter(pk=pk).exists()


def test_deleting_a_user_takes_every_file_of_theirs(alice, alice_world, bob_world, media_root):
    bobs = snapshot(bob_world)
    alice.delete()
    assert files_under(media_root / "corpora" / f"user-{alice.pk}") == []
    for folder in ("tokenizers", "runs", "models"):
        assert files_under(media_root / folder / f"user-{alice.pk}") == []
    assert unchanged(bobs)


def test_the_admin_deletes_files_and_keeps_running_jobs(client, admin_user, alice, alice_world):
    client.force_login(admin_user)
    run = alice_world["run"]
    response = client.post(f"/admin/training/trainingrun/{run.pk}/delete/", {"post": "yes"})
    assert response.status_code == 302
    assert not run.directory.exists() and not TrainingRun.objects.filter(pk=run.pk).exists()

    busy = make_training(alice, alice_world["tokenizer"], status="running", name="busy")
    assert client.get(f"/admin/training/trainingrun/{busy.pk}/delete/").status_code == 403
    assert busy.directory.exists()

    corpus = make_corpus(alice, busy.directory.parent, text="another text\n", name="other")
    response = client.post(f"/admin/corpora/corpus/{corpus.pk}/delete/", {"post": "yes"})
    assert response.status_code == 302 and not corpus.path.exists()
