"""POST /corpora/uploads/: a new upload, a resumed one, and every refusal (nothing stored)."""

import pytest

from tests.webapp.corpora.conftest import files_under, start
from webapp.corpora.models import Corpus, CorpusStatus

pytestmark = pytest.mark.django_db


def test_it_starts_an_upload_under_a_server_generated_name(alice_client, alice, media_root):
    response = start(alice_client, name="Shakespeare.txt", size=1234, last_modified=17)
    assert response.status_code == 201
    body = response.json()
    corpus = Corpus.objects.get(pk=body["id"])
    assert body["status"] == "uploading" and body["received_bytes"] == 0
    assert body["upload_url"] == f"/corpora/uploads/{corpus.pk}/" and body["chunk_bytes"] > 0
    assert corpus.owner == alice and corpus.name == "Shakespeare.txt"
    assert files_under(media_root) == [
        media_root / "corpora" / f"user-{alice.pk}" / f"{corpus.storage_key}.part"
    ]


def test_it_resumes_the_unfinished_upload_of_the_same_file(alice_client):
    first = start(alice_client, name="a.txt", size=100, last_modified=5).json()
    again = start(alice_client, name="a.txt", size=100, last_modified=5)
    assert again.status_code == 200 and again.json()["id"] == first["id"]
    other = start(alice_client, name="a.txt", size=100, last_modified=6)
    assert other.status_code == 201 and other.json()["id"] != first["id"]


def test_it_does_not_resume_another_users_upload(alice_client, client, bob):
    first = start(alice_client, name="a.txt", size=100, last_modified=5).json()
    client.force_login(bob)
    assert start(client, name="a.txt", size=100, last_modified=5).json()["id"] != first["id"]


@pytest.mark.parametrize(
    "name",
    ["../../etc/passwd", "../a.txt", "dir/a.txt", "C:\\Users\\me\\a.txt", "..", "/a.txt"],
)
def test_it_refuses_a_file_name_with_a_path(alice_client, media_root, name):
    response = start(alice_client, name=name, size=10)
    assert response.status_code == 400
    assert "contains a path" in response.json()["error"]
    assert "nothing was stored" in response.json()["error"]
    assert not Corpus.objects.exists() and files_under(media_root) == []


def test_it_refuses_an_empty_file(alice_client, media_root):
    response = start(alice_client, name="empty.txt", size=0)
    assert response.status_code == 400
    assert response.json()["error"] == "“empty.txt” is empty: there is nothing to upload."
    assert not Corpus.objects.exists() and files_under(media_root) == []


def test_it_refuses_a_file_over_the_cap(alice_client, settings, media_root):
    settings.CORPUS_MAX_UPLOAD_BYTES = 1_000_000
    response = start(alice_client, name="big.txt", size=1_000_001)
    assert response.status_code == 400
    assert response.json()["error"] == (
        "“big.txt” is 1,000,001 bytes; the limit is 1,000,000 bytes per file. "  # not "1 MB; 1 MB"
        "Split it into smaller files, or ask an administrator to raise it."
    )
    assert not Corpus.objects.exists() and files_under(media_root) == []
    settings.CORPUS_MAX_UPLOAD_BYTES = 2**30
    error = start(alice_client, size=2**30 + 5).json()["error"]
    assert "is 1.07 GB; the limit is 1 GiB per file" in error


def test_it_refuses_an_upload_beyond_the_quota(alice_client, alice, settings, media_root):
    settings.STORAGE_QUOTA_BYTES = 5000
    Corpus.objects.create(owner=alice, name="kept", size_bytes=3000, status=CorpusStatus.READY)
    Corpus.objects.create(owner=alice, name="gone", size_bytes=9000, status=CorpusStatus.REJECTED)
    assert start(alice_client, name="fits.txt", size=1500).status_code == 201
    response = start(alice_client, name="big.txt", size=501)
    assert response.status_code == 413
    assert response.json()["error"].startswith(
        "“big.txt” (501 bytes) does not fit in your quota: you use 4.5 kB of 5 kB."
    )
    assert Corpus.objects.count() == 3 and len(files_under(media_root)) == 1


@pytest.mark.parametrize(
    "body", ["not json", "[1, 2]", '{"name": "a.txt"}', '{"name": "a.txt", "size": -1}']
)
def test_it_refuses_malformed_requests(alice_client, body):
    response = alice_client.post("/corpora/uploads/", body, content_type="application/json")
    assert response.status_code == 400 and response.json()["error"]


def test_it_requires_sign_in_and_csrf(client, alice):
    assert start(client).status_code == 302  # to the sign-in page
    from django.test import Client

    strict = Client(enforce_csrf_checks=True)
    strict.force_login(alice)
    assert start(strict).status_code == 403
