"""The keys page: a key is shown once, stored hashed with a visible prefix, and revocable."""

import hashlib
import re

import pytest

from tests.webapp.playground.conftest import make_version
from webapp.api.models import ApiKey

pytestmark = pytest.mark.django_db


def test_it_shows_a_new_key_once_and_stores_only_its_hash(alice_client, alice):
    page = alice_client.post("/api/keys/", {"name": "notebook"})
    assert page.status_code == 200
    secret = re.search(r'<code id="secret">(bt-[\w-]+)</code>', page.content.decode())[1]
    key = ApiKey.objects.get(owner=alice)
    assert key.name == "notebook" and key.prefix == secret[:11]
    assert key.hashed == hashlib.sha256(secret.encode()).hexdigest()
    assert secret not in str(ApiKey.objects.values().get())
    listing = alice_client.get("/api/keys/").content.decode()
    assert f"{key.prefix}…" in listing and secret not in listing
    assert ApiKey.authenticate(secret) == key


def test_a_name_is_required(alice_client):
    page = alice_client.post("/api/keys/", {"name": ""})
    assert page.status_code == 400 and "This field is required" in page.content.decode()
    assert not ApiKey.objects.exists()


def test_revoking_is_final_and_only_for_the_owner(alice_client, alice, bob):
    from django.test import Client

    key, secret = ApiKey.issue(alice, "ci")
    bobs = Client()
    bobs.force_login(bob)
    assert bobs.post(f"/api/keys/{key.pk}/revoke/").status_code == 404
    assert ApiKey.authenticate(secret) == key
    response = alice_client.post(f"/api/keys/{key.pk}/revoke/", follow=True)
    assert "is revoked" in response.content.decode()
    assert ApiKey.authenticate(secret) is None
    key.refresh_from_db()
    assert key.revoked and not key.revoke()


def test_the_docs_page_shows_the_base_url_and_the_users_models(alice_client, alice):
    page = alice_client.get("/api/").content.decode()
    assert '<code id="base-url">http://testserver/v1</code>' in page
    assert "curl http://testserver/v1/completions" in page
    assert 'base_url="http://testserver/v1"' in page


def test_the_pages_need_sign_in(client):
    assert client.get("/api/keys/").status_code == 302
    assert client.get("/api/").status_code == 302


def test_the_chat_example_uses_a_chat_version_or_says_there_is_none(
    alice_client, alice, tiny_checkpoint
):
    make_version(alice, tiny_checkpoint, name="tiny")  # a base model: chat answers 400
    page = alice_client.get("/api/").content.decode()
    assert "You have none yet: fine-tune one" in page
    assert 'chat.completions.create(model="tiny"' not in page
    make_version(alice, tiny_checkpoint, name="tiny", version=2, is_chat=True)
    page = alice_client.get("/api/").content.decode()
    assert 'client.chat.completions.create(model="tiny:v2",' in page
