"""The one upload API (webapp/uploads/views.py) behind both kinds of upload, corpora and model
files: every door looks the row up through `access()`, a chunk whose write fails says what
happened and gives its claim back, and a file resumes only the upload it was started for,
whichever kind it is."""

from __future__ import annotations

import logging

import pytest

from webapp.corpora.models import Corpus
from webapp.registry.models import ModelUpload
from webapp.web.errors import MESSAGES

pytestmark = pytest.mark.django_db
JSON = {"HTTP_ACCEPT": "application/json"}  # as static/js/uploader.js asks


@pytest.fixture(autouse=True)
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.CORPUS_CHUNK_BYTES = 64 * 1024
    return settings.MEDIA_ROOT


@pytest.fixture
def carol(django_user_model):
    """Staff, like admin, but not the owner of admin's uploads."""
    return django_user_model.objects.create_user("carol", password="carol-pw-1", is_staff=True)


KINDS = {  # start URL, file name, the model, who owns the upload, who else may use the API
    "corpus": ("/corpora/uploads/", "a.txt", Corpus, "alice", "bob"),
    "model": ("/models/uploads/?model=tiny", "m.zip", ModelUpload, "admin_user", "carol"),
}


def _start(client, url, filename, size=20):
    body = {"name": filename, "size": size, "last_modified": 1700000000000}
    response = client.post(url, body, content_type="application/json")
    assert response.status_code == 201, response.content
    return response.json()


def _put(client, upload_url, offset, data):
    return client.put(f"{upload_url}?offset={offset}", data,
                      content_type="application/octet-stream", **JSON)  # fmt: skip


@pytest.mark.parametrize("kind", KINDS)
def test_it_answers_404_to_anyone_but_the_owner_at_every_door(client, request, kind):
    url, filename, model, owner, other = KINDS[kind]
    client.force_login(request.getfixturevalue(owner))
    info = _start(client, url, filename)
    client.force_login(request.getfixturevalue(other))  # for models, staff too
    assert _put(client, info["upload_url"], 0, b"0123456789").status_code == 404
    assert client.get(info["upload_url"]).json() == {"error": "No such upload."}
    assert client.delete(info["upload_url"]).status_code == 404
    row = model.objects.get(pk=info["id"])
    assert row.status == "uploading" and row.received_bytes == 0
    assert row.upload_path.read_bytes() == b""


@pytest.mark.parametrize("kind", KINDS)
def test_a_write_that_fails_is_a_logged_500_and_gives_its_claim_back(
    client, request, settings, media, caplog, kind
):
    """Not a 411 "needs a Content-Length" (the model API said so for any ValueError), and not
    a count ahead of the file (a retry would then resume past bytes never written)."""
    url, filename, model, owner, _ = KINDS[kind]
    client.force_login(request.getfixturevalue(owner))
    info = _start(client, url, filename)
    settings.MEDIA_ROOT = f"{media}\x00"  # a path the OS refuses: the write raises ValueError
    with caplog.at_level(logging.ERROR, logger="django.request"):
        failed = _put(client, info["upload_url"], 0, b"0123456789")
    assert failed.status_code == 500 and failed.json() == {"error": MESSAGES[500]}
    logged = [r for r in caplog.records if r.exc_info and r.exc_info[0] is ValueError]
    assert logged and "embedded null byte" in str(logged[0].exc_info[1])
    settings.MEDIA_ROOT = media
    assert client.get(info["upload_url"]).json()["received_bytes"] == 0  # the claim is back
    again = _put(client, info["upload_url"], 0, b"0123456789")  # the uploader's retry
    assert again.status_code == 200 and again.json()["received_bytes"] == 10
    assert model.objects.get(pk=info["id"]).upload_path.read_bytes() == b"0123456789"


@pytest.mark.parametrize("kind", KINDS)
def test_a_chunk_without_a_readable_length_is_a_411(client, request, kind):
    url, filename, model, owner, _ = KINDS[kind]
    client.force_login(request.getfixturevalue(owner))
    info = _start(client, url, filename)
    response = client.generic("PUT", f"{info['upload_url']}?offset=0", b"0123456789",
                              "application/octet-stream", CONTENT_LENGTH="ten", **JSON)  # fmt: skip
    assert response.status_code == 411
    assert response.json() == {"error": "The chunk needs a Content-Length header."}
    assert model.objects.get(pk=info["id"]).received_bytes == 0


@pytest.mark.parametrize("kind, other_url, other", [
    ("corpus", "/corpora/uploads/", {"kind": "conversations"}),  # a dataset, not a text corpus
    ("model", "/models/uploads/?model=other", {}),  # for another model's versions
])  # fmt: skip
def test_the_same_file_resumes_only_the_upload_it_was_for(client, request, kind, other_url, other):
    url, filename, model, owner, _ = KINDS[kind]
    client.force_login(request.getfixturevalue(owner))
    body = {"name": filename, "size": 20, "last_modified": 1700000000000}
    first = _start(client, url, filename)
    again = client.post(url, body, content_type="application/json")
    assert again.status_code == 200 and again.json()["id"] == first["id"]
    elsewhere = client.post(other_url, {**body, **other}, content_type="application/json")
    assert elsewhere.status_code == 201 and elsewhere.json()["id"] != first["id"]
    assert model.objects.count() == 2
