"""Per-user limits on launches: shown before, refused at submit as a form error that keeps
what was typed, with no row created and no task enqueued; staff exempt; admin overrides."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

import pytest
from django.urls import reverse

from lmcore.config import GPTConfig
from tests.webapp.fixtures_ml import corpus_text
from tests.webapp.training.helpers import form_data
from webapp.corpora.actions import do_import_corpus
from webapp.corpora.templatetags.corpora_format import format_bytes
from webapp.limits.models import UserLimits
from webapp.limits.policy import LimitExceeded, limits_for
from webapp.registry.models import ModelVersion
from webapp.tokenization.models import TokenizerRun
from webapp.training.actions import do_resume_training_run, do_start_training_run
from webapp.training.forms import TrainingRunForm
from webapp.training.models import TrainingRun

pytestmark = pytest.mark.django_db
TINY_PARAMS = 21_888  # TINY_FORM's model with a 300-token vocabulary (lmcore's count)


@pytest.fixture
def corpus(alice, tmp_path):
    source = tmp_path / "words.txt"
    source.write_text(corpus_text(), encoding="utf-8")
    return do_import_corpus(alice, source, name="words")


@pytest.fixture
def tokenizer(alice):
    """A finished tokenizer run as the form sees it (no file: nothing here trains)."""
    return TokenizerRun.objects.create(owner=alice, name="tok", vocab_size=300,
                                       status="succeeded", result={"vocab_size": 300})  # fmt: skip


def busy(user, n=1):
    """`n` queued jobs of `user`'s (tokenizer runs: the limit counts every kind)."""
    for i in range(n):
        TokenizerRun.objects.create(owner=user, name=f"busy-{i}", vocab_size=300)


def post_training(client, corpus, tokenizer, callbacks_fixture, **changes):
    with callbacks_fixture() as callbacks:
        response = client.post(reverse("training:index"), form_data(corpus, tokenizer, **changes))
    return response, callbacks


def test_the_forms_show_the_limits_before_launch(alice, alice_client, corpus, tokenizer):
    busy(alice)
    page = alice_client.get(reverse("training:index")).content.decode()
    assert (
        "Your limits: 2 concurrent jobs (1 in use), 50 M parameters, 2 h of training per run, "
        "1 device per run." in page
    )
    assert 'name="max_minutes"' in page and 'max="120"' in page
    assert 'name="devices"' in page and 'max="1"' in page
    assert "At most 120 (your limit)" in page
    page = alice_client.get(reverse("tokenization:index")).content.decode()
    assert "Your limits: 2 concurrent jobs (1 in use)." in page
    assert f'href="{reverse("storage")}"' in page


def test_a_launch_over_the_job_limit_is_a_form_error_that_keeps_the_input(
    alice, alice_client, corpus, tokenizer, django_capture_on_commit_callbacks
):
    busy(alice, 2)
    response, callbacks = post_training(
        alice_client, corpus, tokenizer, django_capture_on_commit_callbacks, d_model=48
    )
    assert response.status_code == 200
    (error,) = response.context["form"].non_field_errors()
    assert error.startswith("You have 2 jobs queued or running, and your limit is 2 at once")
    page = response.content.decode()
    assert 'value="tiny-words"' in page and 'name="d_model" value="48"' in page
    assert not TrainingRun.objects.exists() and callbacks == []
    TokenizerRun.objects.filter(name="busy-0").update(status="succeeded")  # one finished
    response, callbacks = post_training(
        alice_client, corpus, tokenizer, django_capture_on_commit_callbacks
    )
    assert response.status_code == 302 and TrainingRun.objects.count() == 1
    assert len(callbacks) == 1  # the positive control: a launch does enqueue


def test_the_tokenizer_form_counts_training_runs_too(
    alice, alice_client, corpus, tokenizer, settings, django_capture_on_commit_callbacks
):
    settings.USER_LIMIT_JOBS = 1
    TrainingRun.objects.create(owner=alice, name="m", tokenizer=tokenizer, preset="tiny",
                               model_config={}, train_config={}, status="running")  # fmt: skip
    data = {"name": "second", "corpora": [corpus.pk], "vocab_size": 300, "min_frequency": 2,
            "special_tokens": "<|endoftext|>"}  # fmt: skip
    with django_capture_on_commit_callbacks() as callbacks:
        response = alice_client.post(reverse("tokenization:index"), data)
    assert response.status_code == 200 and callbacks == []
    assert "your limit is 1 at once" in response.content.decode()
    assert 'value="second"' in response.content.decode()
    assert not TokenizerRun.objects.filter(name="second").exists()


def test_a_model_over_the_parameter_limit_is_refused(
    alice_client, corpus, tokenizer, settings, django_capture_on_commit_callbacks
):
    settings.USER_LIMIT_PARAMS = TINY_PARAMS - 1
    response, callbacks = post_training(
        alice_client, corpus, tokenizer, django_capture_on_commit_callbacks
    )
    (error,) = response.context["form"].non_field_errors()
    assert error.startswith(f"This model has 21.9 k parameters ({TINY_PARAMS:,}); your limit")
    assert not TrainingRun.objects.exists() and callbacks == []
    estimate = alice_client.post(reverse("training:estimate"), form_data(corpus, tokenizer))
    assert estimate.json()["errors"]["__all__"] == [error]  # shown live, as the user types
    settings.USER_LIMIT_PARAMS = TINY_PARAMS
    assert alice_client.post(reverse("training:estimate"), form_data(corpus, tokenizer)).json()[
        "ok"
    ]


def test_time_and_devices_over_the_limit_are_refused_on_their_fields(
    alice_client, corpus, tokenizer, settings, django_capture_on_commit_callbacks
):
    settings.USER_LIMIT_MINUTES = 30
    response, callbacks = post_training(
        alice_client, corpus, tokenizer, django_capture_on_commit_callbacks,
        max_minutes=31, devices=2,
    )  # fmt: skip
    errors = response.context["form"].errors
    assert errors["max_minutes"] == [
        "31 minutes is more than your limit of 30 min (30 minutes) per run; "
        "ask an administrator to raise it."
    ]
    assert errors["devices"] == [
        "Your limit is 1 device per run; ask an administrator to raise it."
    ]
    assert not TrainingRun.objects.exists() and callbacks == []


def test_a_run_without_a_time_limit_gets_the_users(alice, alice_client, corpus, tokenizer):
    response = alice_client.post(reverse("training:index"), form_data(corpus, tokenizer))
    run = TrainingRun.objects.get()
    assert response["Location"] == run.get_absolute_url()
    assert run.train_config["max_steps"] == 30 and run.train_config["max_seconds"] == 7200


def test_staff_have_no_limits(alice, alice_client, corpus, tokenizer, settings):
    settings.USER_LIMIT_JOBS, settings.USER_LIMIT_PARAMS = 1, 10
    settings.USER_LIMIT_MINUTES, settings.STORAGE_QUOTA_BYTES = 1, 1
    alice.is_staff = True
    alice.save()
    busy(alice, 3)
    assert "Staff: no limits." in alice_client.get(reverse("training:index")).content.decode()
    response = alice_client.post(reverse("training:index"),
                                 form_data(corpus, tokenizer, max_minutes=600))  # fmt: skip
    assert response.status_code == 302
    assert TrainingRun.objects.get().train_config["max_seconds"] == 600 * 60


def test_an_administrators_override_wins_over_the_settings(alice, alice_client, corpus, tokenizer):
    busy(alice, 2)
    UserLimits.objects.create(user=alice, jobs=3, params=TINY_PARAMS - 1)
    response = alice_client.post(reverse("training:index"), form_data(corpus, tokenizer))
    (error,) = response.context["form"].non_field_errors()
    assert "your limit is 21.9 k" in error  # the override's parameters, not the setting's
    UserLimits.objects.filter(user=alice).update(params=0)  # 0: no limit
    assert alice_client.post(reverse("training:index"), form_data(corpus, tokenizer)).status_code == 302  # fmt: skip
    page = alice_client.get(reverse("training:index")).content.decode()
    assert "3 concurrent jobs (3 in use), 2 h of training per run" in page


def test_the_action_checks_again_under_the_lock(alice, corpus, tokenizer):
    """Two submits at once: both forms were valid; the second action finds the slot taken."""
    form = TrainingRunForm(form_data(corpus, tokenizer), user=alice)
    assert form.is_valid(), form.errors
    busy(alice, 2)
    with pytest.raises(LimitExceeded, match="your limit is 2 at once"):
        do_start_training_run(alice, form)
    assert not TrainingRun.objects.exists()


def test_the_storage_quota_refuses_launches(
    alice, alice_client, corpus, tokenizer, settings, django_capture_on_commit_callbacks
):
    settings.STORAGE_QUOTA_BYTES = corpus.size_bytes
    response, callbacks = post_training(
        alice_client, corpus, tokenizer, django_capture_on_commit_callbacks
    )
    (error,) = response.context["form"].non_field_errors()
    size = format_bytes(corpus.size_bytes)
    assert error.startswith(f"No new job while over quota: you use {size} of your {size} storage")
    data = {"name": "t", "corpora": [corpus.pk], "vocab_size": 300, "min_frequency": 2,
            "special_tokens": "<|endoftext|>"}  # fmt: skip
    page = alice_client.post(reverse("tokenization:index"), data).content.decode()
    assert "No new job while over quota" in page
    settings.STORAGE_QUOTA_BYTES = corpus.size_bytes + TINY_PARAMS * 16 - 1  # the run's files
    response, _ = post_training(alice_client, corpus, tokenizer, django_capture_on_commit_callbacks)
    (error,) = response.context["form"].non_field_errors()
    assert error.startswith("This run's checkpoint and version need about 350 kB")
    assert not TrainingRun.objects.exists() and callbacks == []
    assert not TokenizerRun.objects.filter(name="t").exists()


def finished_run(alice, corpus, tokenizer, **train) -> TrainingRun:
    run = TrainingRun.objects.create(
        owner=alice, name="m", tokenizer=tokenizer, preset="tiny", status="failed",
        model_config={}, train_config={"max_steps": 30, **train}, params=TINY_PARAMS,
    )  # fmt: skip
    run.corpora.set([corpus])
    run.checkpoint_dir.mkdir(parents=True)
    (run.checkpoint_dir / "config.json").write_text(json.dumps({"step": 10}))
    return run


def test_resume_is_a_launch(alice, alice_client, corpus, tokenizer, settings,
                            django_capture_on_commit_callbacks):  # fmt: skip
    run = finished_run(alice, corpus, tokenizer)
    busy(alice, 2)
    with django_capture_on_commit_callbacks() as callbacks:
        response = alice_client.post(reverse("training:resume", args=[run.pk]), follow=True)
    assert "Not resumed. You have 2 jobs queued or running" in response.content.decode()
    run.refresh_from_db()
    assert run.status == "failed" and callbacks == []
    TokenizerRun.objects.filter(owner=alice, status="queued").delete()
    settings.USER_LIMIT_PARAMS = TINY_PARAMS - 1  # lowered since the run was made
    with pytest.raises(LimitExceeded, match="This model has 21.9 k parameters"):
        do_resume_training_run(run)
    settings.USER_LIMIT_PARAMS = TINY_PARAMS
    with django_capture_on_commit_callbacks() as callbacks:
        assert do_resume_training_run(run)
    run.refresh_from_db()  # queued again, with the user's time limit (time so far counts)
    assert run.status == "queued" and len(callbacks) == 1
    assert run.train_config["max_seconds"] == 7200


def chat_version(alice, tokenizer: TokenizerRun, directory: Path) -> ModelVersion:
    from lmcore.tokenizer import SPECIAL_TOKENS, TokenizerConfig, train_tokenizer

    version = ModelVersion.objects.create(owner=alice, name="tiny", version=1,
                                          tokenizer=tokenizer, params=TINY_PARAMS, step=5)  # fmt: skip
    version.directory.mkdir(parents=True)
    text = directory / "t.txt"
    text.write_text(corpus_text(), encoding="utf-8")
    config = TokenizerConfig(vocab_size=300, special_tokens=list(SPECIAL_TOKENS))
    train_tokenizer([text], config).save(version.directory)
    model = GPTConfig(vocab_size=300, n_layer=1, n_head=2, d_model=32, context=32)
    (version.directory / "config.json").write_text(json.dumps({"model": asdict(model)}))
    return version


def test_the_finetune_form_has_the_same_limits(
    alice, alice_client, tokenizer, settings, tmp_path, django_capture_on_commit_callbacks
):
    version = chat_version(alice, tokenizer, tmp_path)
    source = tmp_path / "chat.jsonl"
    source.write_text(json.dumps({"messages": [{"role": "user", "content": "hi"},
                                               {"role": "assistant", "content": "hello"}]}) + "\n")  # fmt: skip
    dataset = do_import_corpus(alice, source, kind="conversations")
    url = reverse("training:finetune", args=[version.pk])
    page = alice_client.get(url).content.decode()
    assert (
        "Your limits: 2 concurrent jobs (0 in use), 50 M parameters" in page and 'max="120"' in page
    )
    data = {"datasets": [dataset.pk], "text_ratio": 0, "lr": 1e-3, "max_minutes": 121,
            "device": "cpu"}  # fmt: skip
    settings.USER_LIMIT_PARAMS = TINY_PARAMS - 1
    with django_capture_on_commit_callbacks() as callbacks:
        response = alice_client.post(url, data)
        assert "more than your limit of 2 h" in response.content.decode()
        response = alice_client.post(url, {**data, "max_minutes": 5})
        assert "This model has 21.9 k parameters" in response.content.decode()
        busy(alice, 2)
        settings.USER_LIMIT_PARAMS = TINY_PARAMS
        response = alice_client.post(url, {**data, "max_minutes": 5})
        assert "your limit is 2 at once" in response.content.decode()
    assert not TrainingRun.objects.exists() and callbacks == []


def test_the_admin_edits_one_users_limits(client, admin_user, alice):
    client.force_login(admin_user)
    response = client.post("/admin/limits/userlimits/add/", {"user": alice.pk, "jobs": 5,
                                                             "params": "", "minutes": 600})  # fmt: skip
    assert response.status_code == 302, response.content.decode()[:2000]
    limits = limits_for(alice)
    assert (limits.jobs, limits.params, limits.minutes) == (5, 50_000_000, 600)
    client.force_login(alice)
    page = client.get(reverse("tokenization:index")).content.decode()
    assert "Your limits: 5 concurrent jobs (0 in use)." in page
