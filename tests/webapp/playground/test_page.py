"""The playground page lists the versions the user may play with, and only those."""

import pytest

from tests.webapp.playground.conftest import make_version

pytestmark = pytest.mark.django_db


def test_it_lists_own_and_shared_versions(alice_client, version, bob, admin_user, tiny_checkpoint):
    make_version(bob, tiny_checkpoint, name="bobs")
    make_version(admin_user, tiny_checkpoint, name="house", status="production")
    page = alice_client.get("/playground/").content.decode()
    assert "tiny v1" in page and "house v1" in page and "bobs" not in page
    assert 'src="/static/js/playground.js"' in page
    assert 'max="1024"' in page  # the server's max_new_tokens cap


def test_it_requires_sign_in(client):
    assert client.get("/playground/").status_code == 302
