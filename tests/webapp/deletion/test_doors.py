"""Every door to a deletion goes through the plan (webapp/deletion.py): the upload APIs'
DELETE cancels only an unfinished upload, and the admin's Delete (one row or the bulk action)
refuses what the Delete page refuses."""

from __future__ import annotations

import pytest

from tests.webapp.deletion.conftest import make_training
from webapp.corpora.models import Corpus
from webapp.registry.models import ModelUpload

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def read_by_a_running_run(alice, alice_world):
    """alice's ready corpus, which a running training run reads."""
    corpus = alice_world["corpus"]
    make_training(alice, alice_world["tokenizer"], [corpus], status="running", name="busy")
    return corpus


def test_the_upload_api_does_not_delete_a_finished_corpus(alice_client, read_by_a_running_run):
    corpus = read_by_a_running_run
    response = alice_client.delete(f"/corpora/uploads/{corpus.pk}/")
    assert response.status_code == 409 and response.json()["state"] == "ready"
    assert (
        f"delete the corpus from its page (/corpora/{corpus.pk}/delete/)"
        in (response.json()["error"])
    )
    assert Corpus.objects.filter(pk=corpus.pk).exists() and corpus.path.exists()
    assert alice_client.post(f"/corpora/{corpus.pk}/delete/").status_code == 409  # the page too


def test_the_upload_api_cancels_an_unfinished_upload(alice_client, media_root):
    info = alice_client.post("/corpora/uploads/", {"name": "a.txt", "size": 20},
                             content_type="application/json").json()  # fmt: skip
    alice_client.put(f"/corpora/uploads/{info['id']}/?offset=0", b"0123456789",
                     content_type="application/octet-stream")  # fmt: skip
    assert alice_client.delete(f"/corpora/uploads/{info['id']}/").status_code == 204
    assert not Corpus.objects.filter(pk=info["id"]).exists()
    assert not any(p.is_file() for p in media_root.rglob("*"))


def test_an_upload_that_finishes_meanwhile_is_not_deleted(alice_client, alice_world, monkeypatch):
    """The view read the row while it was uploading; its last chunk landed and it became ready
    before the cancel: judged on the row as it is, under the lock, not on that read."""
    from webapp.uploads import views

    corpus = alice_world["corpus"]
    Corpus.objects.filter(pk=corpus.pk).update(status="uploading")
    read = views.access

    def read_then_finish(user, model, pk):
        row = read(user, model, pk)
        model.objects.filter(pk=pk).update(status="ready")  # meanwhile, in another request
        return row

    monkeypatch.setattr(views, "access", read_then_finish)
    response = alice_client.delete(f"/corpora/uploads/{corpus.pk}/")
    assert response.status_code == 409 and response.json()["state"] == "ready"
    assert Corpus.objects.filter(pk=corpus.pk).exists() and corpus.path.exists()


@pytest.mark.parametrize("status, code", [("importing", 409), ("imported", 409),
                                          ("uploading", 204)])  # fmt: skip
def test_a_model_upload_is_cancelled_only_while_it_uploads(client, admin_user, status, code):
    upload = ModelUpload.objects.create(owner=admin_user, name="m", filename="m.zip",
                                        size_bytes=10, status=status)  # fmt: skip
    upload.directory.mkdir(parents=True)
    upload.upload_path.write_bytes(b"PK")
    client.force_login(admin_user)
    response = client.delete(f"/models/uploads/{upload.pk}/")
    assert response.status_code == code
    assert ModelUpload.objects.filter(pk=upload.pk).exists() == (code == 409)
    assert upload.upload_path.exists() == (code == 409)  # an import still reads it


def test_the_plan_refuses_an_import_in_progress(admin_user):
    from webapp import deletion

    upload = ModelUpload.objects.create(owner=admin_user, name="m", filename="m.zip",
                                        size_bytes=10, status="importing")  # fmt: skip
    outcome = deletion.delete(upload)
    assert not outcome.deleted and "being imported" in outcome.plan.refusals[0].text


def test_the_admin_refuses_what_the_page_refuses(client, admin_user, read_by_a_running_run):
    corpus = read_by_a_running_run
    client.force_login(admin_user)
    url = f"/admin/corpora/corpus/{corpus.pk}/delete/"
    page = client.get(url).content.decode()
    assert "it is read by training run “busy”" in page
    assert client.post(url, {"post": "yes"}).status_code == 200  # the page again, nothing done
    bulk = {"action": "delete_selected", "_selected_action": [corpus.pk], "post": "yes"}
    client.post("/admin/corpora/corpus/", bulk)
    assert Corpus.objects.filter(pk=corpus.pk).exists() and corpus.path.exists()


def test_the_admin_deletes_through_the_plan(client, admin_user, alice_world):
    version = alice_world["version"]
    client.force_login(admin_user)
    response = client.post(f"/admin/registry/modelversion/{version.pk}/delete/", {"post": "yes"})
    assert response.status_code == 302
    assert not type(version).objects.filter(pk=version.pk).exists()
    assert not version.directory.exists()
