"""Pages that say what is wrong and what to do: a corpus whose text file is missing, a
tokenizer whose file is, a version whose files are, a Host the server does not answer to
(except for the health answers, which probes call by address); and the icon every browser
asks for is served."""

import json

import pytest
from django.urls import reverse

from tests.webapp.deletion.conftest import make_version
from webapp.corpora.actions import do_import_corpus
from webapp.tokenization.models import TokenizerRun

pytestmark = pytest.mark.django_db

WHAT_TO_DO = "put the file back from a backup; otherwise delete this entry and upload the file"


@pytest.fixture
def lost_corpus(corpus):
    corpus.path.unlink()  # removed behind Bottega's back, or the storage is not mounted
    return corpus


def test_a_corpus_whose_file_is_missing_says_so(alice_client, lost_corpus):
    page = alice_client.get(lost_corpus.get_absolute_url())
    assert page.status_code == 200  # was a bare 500
    html = page.content.decode()
    where = f"corpora/user-{lost_corpus.owner_id}/{lost_corpus.storage_key}.txt under MEDIA_ROOT"
    assert "is missing from the server&#x27;s storage" in html and where in html
    assert WHAT_TO_DO in html and "ready to train on" not in html
    assert (
        alice_client.get(reverse("corpora:detail_fragment", args=[lost_corpus.pk])).status_code
        == 200
    )


def test_a_launch_on_it_is_refused_with_the_reason(alice_client, lost_corpus):
    data = {"name": "x", "corpora": [lost_corpus.pk], "vocab_size": 300, "min_frequency": 2,
            "special_tokens": "<|endoftext|>"}  # fmt: skip
    response = alice_client.post(reverse("tokenization:index"), data)
    assert response.status_code == 200 and not TokenizerRun.objects.exists()
    (error,) = response.context["form"].errors["corpora"]
    assert error.startswith(f"The text of “{lost_corpus.name}” is missing") and WHAT_TO_DO in error


@pytest.fixture
def lost_tokenizer(tokenizer_run):
    tokenizer_run.tokenizer_path.unlink()
    return tokenizer_run


def test_a_tokenizer_whose_file_is_missing_says_so(alice_client, lost_tokenizer):
    page = alice_client.get(lost_tokenizer.get_absolute_url())
    assert page.status_code == 200
    html = page.content.decode()
    folder = f"tokenizers/user-{lost_tokenizer.owner_id}/{lost_tokenizer.storage_key}"
    assert "is missing from the server&#x27;s storage" in html
    assert f"({folder}/tokenizer.json under MEDIA_ROOT)" in html
    assert "otherwise delete this tokenizer and train it again" in html
    assert 'id="tokenize"' not in html  # nothing on the page asks for what cannot be read
    urls = {name: reverse(f"tokenization:{name}", args=[lost_tokenizer.pk])
            for name in ("vocab", "encode", "trace")}  # fmt: skip
    answers = [alice_client.get(urls["vocab"])] + [
        alice_client.post(urls[name], {"text": "the"}, content_type="application/json")
        for name in ("encode", "trace")
    ]  # each was a bare 500
    for answer in answers:
        assert answer.status_code == 409 and answer.json() == {"error": lost_tokenizer.missing_file}


def test_a_dataset_counted_under_it_says_so(alice, alice_client, lost_tokenizer, tmp_path):
    source = tmp_path / "chats.jsonl"
    source.write_text(json.dumps({"messages": [{"role": "user", "content": "hi"},
                                               {"role": "assistant", "content": "hello"}]}) + "\n")  # fmt: skip
    dataset = do_import_corpus(alice, source, name="chats", kind="conversations")
    page = alice_client.get(f"{dataset.get_absolute_url()}?tokenizer={lost_tokenizer.pk}")
    assert page.status_code == 200  # was a bare 500
    assert "is missing from the server&#x27;s storage" in page.content.decode()


def test_a_version_whose_files_are_missing_says_so(alice_client, alice, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    version = make_version(alice)
    (version.directory / "model.safetensors").unlink()
    response = alice_client.get(reverse("registry:download", args=[version.pk]), follow=True)
    assert response.redirect_chain[-1][0] == version.get_absolute_url()
    assert (
        "model.safetensors is missing from the server&#x27;s storage" in response.content.decode()
    )


def test_a_host_the_server_does_not_answer_to_gets_a_page(client, settings):
    settings.DEBUG = False
    response = client.get("/", HTTP_HOST="bottega.example.org")
    assert response.status_code == 400
    html = response.content.decode()
    assert "does not answer to the address “bottega.example.org”" in html
    assert "ALLOWED_HOSTS" in html and "<title>Bad request · Bottega</title>" in html


def test_the_health_answers_answer_any_host(client, admin_user, settings):
    """A probe by address (compose's health check: http://127.0.0.1:8000/livez) once
    ALLOWED_HOSTS names the operator's domain; a page by that address is still refused."""
    settings.DEBUG, settings.ALLOWED_HOSTS = False, ["bottega.example.org"]
    by_address = {"HTTP_HOST": "127.0.0.1:8000"}
    live = client.get("/livez", **by_address)
    assert live.status_code == 200 and live.json() == {"ok": True}
    for path in ("/readyz", "/healthz"):
        ready = client.get(path, **by_address)
        assert ready.status_code in (200, 503) and "redis" in ready.json(), path
    page = client.get(reverse("login"), **by_address)
    assert page.status_code == 400
    assert "does not answer to the address “127.0.0.1:8000”" in page.content.decode()
    assert client.get("/livez/", **by_address).status_code == 400  # those paths exactly
    client.force_login(admin_user)  # the session still works there: staff get the details
    assert "ms" in client.get("/readyz", **by_address).json()["database"]


def test_the_icon_is_served_to_anyone(client):
    response = client.get("/favicon.ico")
    assert response.status_code == 200
    assert response["Content-Type"] in ("image/x-icon", "image/vnd.microsoft.icon")
    assert b"".join(response.streaming_content)[:4] == b"\0\0\1\0"  # an ICO file
