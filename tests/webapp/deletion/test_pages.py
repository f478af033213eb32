"""Each Delete page through the test client: the owner sees the plan and deletes with a POST
(the files are gone, a message says so); another user, staff included, gets 404."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.utils import timezone

from tests.webapp.deletion.conftest import make_training
from webapp.api.models import ApiKey
from webapp.corpora.actions import do_import_corpus
from webapp.playground.models import Conversation
from webapp.training.models import TrainingRun

pytestmark = pytest.mark.django_db(transaction=True)


def page_of(world: dict, kind: str) -> tuple[str, object, str]:
    """(delete url, object, where the POST lands) for one of alice's objects."""
    obj = world[kind]
    prefix = {"corpus": "/corpora", "tokenizer": "/tokenizers", "run": "/training",
              "version": "/models"}[kind]  # fmt: skip
    lands = {"corpus": "/corpora/", "tokenizer": "/tokenizers/", "run": "/training/",
             "version": "/models/"}[kind]  # fmt: skip
    return f"{prefix}/{obj.pk}/delete/", obj, lands


def files_of(obj) -> list:
    return [p for p in (getattr(obj, "directory", None), getattr(obj, "path", None)) if p]


@pytest.mark.parametrize("kind", ["version", "run", "corpus"])
def test_the_owner_confirms_then_deletes(alice_client, alice_world, bob_world, kind):
    url, obj, lands = page_of(alice_world, kind)
    detail = alice_client.get(obj.get_absolute_url()).content.decode()
    assert f'href="{url}"' in detail  # the page links its Delete

    page = alice_client.get(url)
    assert page.status_code == 200
    html = page.content.decode()
    assert "What happens" in html and 'id="files"' in html and "Keep it" in html

    response = alice_client.post(url, follow=True)
    assert response.redirect_chain[-1][0] == lands
    assert "Deleted " in response.content.decode() and "and its files" in response.content.decode()
    assert type(obj).objects.filter(pk=obj.pk).count() == 0
    if kind == "corpus":
        assert not obj.path.exists()
    else:
        assert not obj.directory.exists()
    bobs = bob_world[kind]
    assert type(bobs).objects.filter(pk=bobs.pk).exists()
    assert all(p.exists() for p in ([bobs.path] if kind == "corpus" else [bobs.directory]))


def test_the_tokenizer_page_lists_what_refuses_and_a_post_changes_nothing(
    alice_client, alice_world
):
    url, tokenizer, _ = page_of(alice_world, "tokenizer")
    run = alice_world["run"]
    html = alice_client.get(url).content.decode()
    assert (
        "This tokenizer cannot be deleted yet" in html and "Delete tokenizer</button>" not in html
    )
    assert f"Refused: training run “m” #{run.pk} uses this tokenizer: delete that run first" in html
    response = alice_client.post(url)
    assert response.status_code == 409 and tokenizer.tokenizer_path.exists()

    alice_client.post(f"/training/{run.pk}/delete/")
    response = alice_client.post(url, follow=True)
    assert response.redirect_chain[-1][0] == "/tokenizers/"
    assert f"Deleted tokenizer “{tokenizer}” and its files" in response.content.decode()
    assert not tokenizer.directory.exists()


def test_a_running_run_is_cancelled_and_deleted_once_it_has_stopped(
    alice, alice_client, alice_world
):
    from webapp.deletion import finish_requested_deletions

    run = make_training(alice, alice_world["tokenizer"], status="running", name="busy")
    url = f"/training/{run.pk}/delete/"
    html = alice_client.get(url).content.decode()
    assert "it is cancelled now and disappears from your pages" in html
    assert "Delete training run</button>" in html
    response = alice_client.post(url, follow=True)
    assert response.redirect_chain[-1][0] == "/training/"
    assert (
        f"Cancelling training run “busy #{run.pk}”: it is deleted with its files once it has "
        "stopped." in response.content.decode()
    )
    assert f"/training/{run.pk}/" not in response.content.decode()  # gone from the list
    assert alice_client.get(f"/training/{run.pk}/").status_code == 404
    assert alice_client.get(url).status_code == 404
    run.refresh_from_db()
    assert run.status == "cancelling" and run.directory.exists()

    TrainingRun.objects.filter(pk=run.pk).update(
        status="cancelled", finished_at=timezone.now() - timedelta(minutes=1)
    )  # the worker saved its checkpoint and stopped a while ago
    assert finish_requested_deletions() == 1
    assert not run.directory.exists() and not TrainingRun.objects.filter(pk=run.pk).exists()


@pytest.mark.parametrize("kind", ["corpus", "tokenizer", "run", "version"])
def test_other_users_and_staff_get_404(client, bob, admin_user, alice_world, kind):
    url, obj, _ = page_of(alice_world, kind)
    for user in (bob, admin_user):
        client.force_login(user)
        assert client.get(url).status_code == 404
        assert client.post(url).status_code == 404
    assert type(obj).objects.filter(pk=obj.pk).exists()
    assert all(p.exists() for p in files_of(obj))


def test_staff_delete_their_own_version_the_same_way(client, admin_user, tmp_path):
    from tests.webapp.deletion.conftest import make_version

    version = make_version(admin_user, None, name="staff-model")
    client.force_login(admin_user)
    assert client.get(f"/models/{version.pk}/delete/").status_code == 200
    assert client.post(f"/models/{version.pk}/delete/").status_code == 302
    assert not version.directory.exists()


def test_a_conversation_has_its_delete_page(alice, bob, client, alice_world):
    mine = Conversation.objects.create(owner=alice, title="hello", mode="chat",
                                       messages=[{"role": "user", "content": "hi"}],
                                       model_version=alice_world["version"])  # fmt: skip
    url = f"/playground/conversations/{mine.pk}/delete/"
    client.force_login(bob)
    assert client.get(url).status_code == 404 and client.post(url).status_code == 404
    client.force_login(alice)
    assert "its 1 messages are deleted" in client.get(url).content.decode().lower()
    response = client.post(url, follow=True)
    assert response.redirect_chain[-1][0] == "/playground/"
    assert "Deleted conversation “hello”." in response.content.decode()
    assert not Conversation.objects.filter(pk=mine.pk).exists()
    assert alice_world["version"].directory.exists()


def test_an_api_key_has_its_delete_page(alice, bob, client):
    key, raw = ApiKey.issue(alice, "notebook")
    url = f"/api/keys/{key.pk}/delete/"
    client.force_login(bob)
    assert client.get(url).status_code == 404 and client.post(url).status_code == 404
    client.force_login(alice)
    assert f'href="{url}"' in client.get("/api/keys/").content.decode()
    assert "programs using this key get 401" in client.get(url).content.decode().lower()
    response = client.post(url, follow=True)
    assert response.redirect_chain[-1][0] == "/api/keys/"
    assert "Deleted API key “notebook (" in response.content.decode()
    assert ApiKey.authenticate(raw) is None and not ApiKey.objects.filter(pk=key.pk).exists()


def test_a_conversation_dataset_says_which_finetune_can_no_longer_resume(
    alice, alice_client, alice_world, tmp_path
):
    turns = [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]
    line = json.dumps({"messages": turns})
    source = tmp_path / "chats.jsonl"
    source.write_text("\n".join([line] * 20) + "\n", encoding="utf-8")
    dataset = do_import_corpus(alice, source, name="chats", kind="conversations")
    finetune = make_training(alice, alice_world["tokenizer"], status="cancelled", name="chat",
                             parent=alice_world["version"])  # fmt: skip
    finetune.chat_datasets.set([dataset])
    assert (
        f'href="/corpora/{dataset.pk}/delete/"'
        in alice_client.get(f"/corpora/{dataset.pk}/").content.decode()
    )
    html = alice_client.get(f"/corpora/{dataset.pk}/delete/").content.decode()
    assert "Delete conversation dataset “chats”?" in html
    assert (
        f"Fine-tuning run “chat” #{finetune.pk} can no longer be resumed (a resume needs its "
        "conversation files)" in html
    )
    response = alice_client.post(f"/corpora/{dataset.pk}/delete/", follow=True)
    assert response.redirect_chain[-1][0] == "/corpora/conversations/"
    assert not dataset.path.exists() and finetune.directory.exists()
    finetune.refresh_from_db()
    assert list(finetune.chat_datasets.all()) == []
