"""Fine-tuning a version for chat from the Models page, on a real worker: a new version of
the same model, marked chat, with its parent; and the refusals, which store nothing."""

import json
import re
import shutil

import pytest
from django.urls import reverse

from tests.webapp.fixtures_ml import wait_for
from webapp.corpora.actions import do_import_corpus
from webapp.registry.actions import KEPT_FILES
from webapp.registry.models import ModelVersion
from webapp.training.models import RunEvent, TrainingRun

pytestmark = pytest.mark.django_db(transaction=True)
COLOURS = ["red", "blue", "green", "white", "black", "pink"]


def base_version(alice, corpus, tokenizer_run, tmp_path) -> ModelVersion:
    """Version 1 of "tiny-words": a tiny base model trained here by lmcore, registered as a
    finished run's checkpoint would be (the files a version keeps)."""
    from lmcore.cli import main

    out = tmp_path / "base"
    assert main(["train", "--tokenizer", str(tokenizer_run.tokenizer_path), "--input",
                 str(corpus.path), "--out", str(out), "--max-steps", "5", "--n-layer", "1",
                 "--n-head", "2", "--d-model", "32", "--context", "32", "--batch-size", "4",
                 "--device", "cpu"]) == 0  # fmt: skip
    version = ModelVersion.objects.create(owner=alice, name="tiny-words", version=1,
                                          tokenizer=tokenizer_run, params=1, step=5)  # fmt: skip
    version.directory.mkdir(parents=True)
    for name in KEPT_FILES:
        shutil.copy(out / "checkpoint" / name, version.directory / name)
    return version


@pytest.fixture
def dataset(alice, tmp_path):
    source = tmp_path / "colours.jsonl"
    source.write_text("".join(json.dumps({"messages": [
        {"role": "user", "content": f"say {c}"}, {"role": "assistant", "content": c}]}) + "\n"
        for c in COLOURS * 10))  # fmt: skip
    dataset = do_import_corpus(alice, source, name="colours", kind="conversations")
    assert dataset.status == "ready", dataset.error
    return dataset


def test_it_fine_tunes_a_version_into_a_chat_version(
    alice, alice_client, corpus, chat_tokenizer_run, dataset, celery_worker, tmp_path
):
    parent = base_version(alice, corpus, chat_tokenizer_run, tmp_path)
    page = alice_client.get(parent.get_absolute_url()).content.decode()
    assert reverse("training:finetune", args=[parent.pk]) in page
    response = alice_client.post(reverse("training:finetune", args=[parent.pk]), {
        "datasets": [dataset.pk], "text_ratio": 0, "lr": 1e-2, "max_minutes": 5,
        "max_steps": 40, "device": "cpu"})  # fmt: skip
    run = TrainingRun.objects.get(parent=parent)
    assert response["Location"] == run.get_absolute_url()
    wait_for(lambda: TrainingRun.objects.get(pk=run.pk).status in {"succeeded", "failed"},
             timeout=180)  # fmt: skip
    run.refresh_from_db()
    assert run.status == "succeeded", run.error
    child = ModelVersion.objects.get(run=run)
    assert (child.name, child.version, child.is_chat, child.parent) == (
        parent.name, 2, True, parent)  # fmt: skip
    evals = [e.data for e in RunEvent.objects.filter(run=run, type="run.metrics")
             if e.data.get("val_bpb") is not None]  # fmt: skip
    assert evals and set(evals[-1]["corpora"]) == {"colours"}  # named as the user named it
    samples = RunEvent.objects.filter(run=run, type="run.sample")
    assert samples.exists() and samples.first().data["prompt"].startswith("say ")
    config = json.loads((child.directory / "config.json").read_text())
    assert config["train"]["chat"] is True and config["train"]["bos_token"] == "<|endoftext|>"
    detail = alice_client.get(child.get_absolute_url()).content.decode()
    assert 'id="parent"' in detail and parent.get_absolute_url() in detail
    run_page = alice_client.get(run.get_absolute_url()).content.decode()
    assert 'id="finetune-of"' in run_page and 'data-chat="1"' in run_page


def test_a_version_whose_tokenizer_lacks_the_chat_tokens_is_refused(
    alice, alice_client, corpus, tokenizer_run, dataset, tmp_path
):
    parent = base_version(
        alice, corpus, tokenizer_run, tmp_path
    )  # special tokens: <|endoftext|> only
    url = reverse("training:finetune", args=[parent.pk])
    assert "lacks the chat tokens" in alice_client.get(url).content.decode()
    response = alice_client.post(url, {"datasets": [dataset.pk], "text_ratio": 0, "lr": 1e-3,
                                       "max_minutes": 1, "device": "cpu"})  # fmt: skip
    assert response.status_code == 400
    assert "Train a new tokenizer with the default special tokens" in response.content.decode()
    assert not TrainingRun.objects.filter(parent=parent).exists()


def test_the_form_refuses_missing_datasets_and_text_without_corpora(
    alice, alice_client, corpus, chat_tokenizer_run, dataset, bob, tmp_path
):
    parent = base_version(alice, corpus, chat_tokenizer_run, tmp_path)
    url = reverse("training:finetune", args=[parent.pk])
    form = alice_client.get(url).content.decode()  # the context from the version's config
    assert "longer than the model's context (32 tokens) are left out" in form
    params = re.search(r'data-estimate="trainable">([\d,]+)<', form).group(1)  # Full: all
    assert "," in params and f"<dd>{params}</dd>" in form  # the model's, grouped alike
    assert f"The model's parameters ({params})" in form
    response = alice_client.post(url, {"text_ratio": 0, "lr": 1e-3, "max_minutes": 1,
                                       "device": "cpu"})  # fmt: skip
    assert response.status_code == 400 and "This field is required" in response.content.decode()
    response = alice_client.post(url, {"datasets": [dataset.pk], "text_ratio": 0.3, "lr": 1e-3,
                                       "max_minutes": 1, "device": "cpu"})  # fmt: skip
    assert response.status_code == 400
    assert "Choose the text corpora to mix in" in response.content.decode()
    assert not TrainingRun.objects.filter(parent=parent).exists()
    alice_client.force_login(bob)
    assert alice_client.get(url).status_code == 404  # not bob's to fine-tune


def test_an_imported_chat_version_fine_tunes_on_its_own_template(
    alice, alice_client, dataset, celery_worker, tmp_path
):
    from tests.hf_models import save_chatml_model
    from webapp.registry.actions import do_import_version

    corpus = tmp_path / "words.txt"
    corpus.write_text(" ".join(COLOURS * 60) + "\n", encoding="utf-8")
    save_chatml_model(corpus, tmp_path / "src", [{"role": "user", "content": "say red"}])
    parent = do_import_version(alice, "smol", tmp_path / "src")
    assert parent.is_chat and parent.tokenizer is None
    url = reverse("training:finetune", args=[parent.pk])
    page = alice_client.get(url).content.decode()
    assert 'id="finetune-problem"' not in page  # offered: it brought its own template
    response = alice_client.post(url, {"datasets": [dataset.pk], "text_ratio": 0, "lr": 1e-2,
                                       "max_minutes": 5, "max_steps": 6, "device": "cpu"})  # fmt: skip
    run = TrainingRun.objects.get(parent=parent)
    assert response["Location"] == run.get_absolute_url() and run.tokenizer is None
    wait_for(lambda: TrainingRun.objects.get(pk=run.pk).status in {"succeeded", "failed"},
             timeout=180)  # fmt: skip
    run.refresh_from_db()
    assert run.status == "succeeded", run.error
    child = ModelVersion.objects.get(run=run)
    assert (child.name, child.version, child.is_chat, child.parent) == ("smol", 2, True, parent)
    ours = json.loads((child.directory / "config.json").read_text())
    theirs = json.loads((parent.directory / "config.json").read_text())
    assert ours["chat_template"] == theirs["chat_template"] and ours["hf"] == theirs["hf"]
    assert "the parent's own tokenizer" in alice_client.get(run.get_absolute_url()).content.decode()
