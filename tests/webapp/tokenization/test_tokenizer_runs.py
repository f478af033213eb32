"""Tokenizer runs from the form to a trained tokenizer, through the real worker."""

import pytest
from django.urls import reverse

from lmcore.tokenizer import Tokenizer
from tests.webapp.fixtures_ml import wait_for
from webapp.tokenization.models import TokenizerRun

pytestmark = pytest.mark.django_db(transaction=True)


def test_it_trains_a_tokenizer_from_the_form(alice_client, corpus, celery_worker):
    response = alice_client.post(
        reverse("tokenization:index"),
        {"name": "words-300", "corpora": [corpus.pk], "vocab_size": 300, "min_frequency": 2,
         "special_tokens": "<|endoftext|> <|user|>"},
    )  # fmt: skip
    run = TokenizerRun.objects.get(name="words-300")
    assert response.status_code == 302 and response["Location"] == run.get_absolute_url()

    wait_for(lambda: TokenizerRun.objects.get(pk=run.pk).status == "succeeded")
    run.refresh_from_db()
    assert run.progress == 1.0 and run.error == ""
    tokenizer = Tokenizer.load(run.tokenizer_path)
    assert tokenizer.vocab_size == run.result["vocab_size"] <= 300
    [row] = run.result["per_corpus"]
    assert row["bytes"] == corpus.path.stat().st_size
    assert row["bytes_per_token"] == pytest.approx(row["bytes"] / row["tokens"], abs=1e-3)
    page = alice_client.get(run.get_absolute_url())
    assert b"Bytes per token" in page.content and b"Merge explorer" in page.content


@pytest.mark.parametrize(
    "changes, field, message",
    [
        ({"vocab_size": 100}, "vocab_size", "Ensure this value is greater than or equal to 256."),
        (
            {"vocab_size": 257},
            "vocab_size",
            "it must be between 258 (256 bytes + 2 special tokens)",
        ),
        ({"special_tokens": "abc"}, "special_tokens", "could also be spelt by ordinary text"),
        ({"corpora": []}, "corpora", "This field is required."),
        ({"min_frequency": -1}, "min_frequency", "greater than or equal to 0"),
    ],
)
def test_it_refuses_bad_settings_on_the_field(alice_client, corpus, changes, field, message):
    data = {"name": "x", "corpora": [corpus.pk], "vocab_size": 300, "min_frequency": 2,
            "special_tokens": "<|endoftext|> <|user|>", **changes}  # fmt: skip
    response = alice_client.post(reverse("tokenization:index"), data)
    assert response.status_code == 200
    assert any(message in e for e in response.context["form"].errors[field])
    assert not TokenizerRun.objects.exists()


def test_it_does_not_offer_other_peoples_corpora(client, bob, corpus):
    client.force_login(bob)
    data = {"name": "x", "corpora": [corpus.pk], "vocab_size": 300, "min_frequency": 2}
    response = client.post(reverse("tokenization:index"), data)
    assert "corpora" in response.context["form"].errors
    assert not TokenizerRun.objects.exists()


def test_it_cancels_a_queued_run_and_the_worker_leaves_it(alice, alice_client, corpus):
    from workers.tokenization import train_tokenizer_run

    run = TokenizerRun.objects.create(owner=alice, name="t", vocab_size=300)
    run.corpora.set([corpus])
    alice_client.post(reverse("tokenization:cancel", args=[run.pk]))
    train_tokenizer_run(run.pk)  # as if the worker picked it up afterwards
    run.refresh_from_db()
    assert run.status == "cancelled" and not run.tokenizer_path.exists()


def test_it_fails_with_a_reason_when_a_corpus_file_is_gone(alice, corpus):
    from workers.tokenization import train_tokenizer_run

    run = TokenizerRun.objects.create(owner=alice, name="t", vocab_size=300)
    run.corpora.set([corpus])
    corpus.path.unlink()
    train_tokenizer_run(run.pk)
    run.refresh_from_db()
    assert run.status == "failed"
    assert run.error == "corpus files are missing (words)"


def test_other_users_get_404(client, bob, tokenizer_run):
    client.force_login(bob)
    for name in ["detail", "vocab"]:
        assert (
            client.get(reverse(f"tokenization:{name}", args=[tokenizer_run.pk])).status_code == 404
        )
    assert client.post(reverse("tokenization:cancel", args=[tokenizer_run.pk])).status_code == 404
