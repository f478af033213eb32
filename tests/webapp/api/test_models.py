"""GET /v1/models lists what the key's user may use in the playground, under the API's ids."""

import pytest

from tests.webapp.api.conftest import client_for, issue_key, make_version

pytestmark = pytest.mark.django_db(transaction=True)


def test_it_lists_own_models_and_shared_production_ones(
    api_url, alice, bob, admin_user, tiny_checkpoint
):
    make_version(alice, tiny_checkpoint, name="tiny", version=1)
    make_version(alice, tiny_checkpoint, name="tiny", version=2)
    make_version(admin_user, tiny_checkpoint, name="shared", version=1, status="production")
    make_version(admin_user, tiny_checkpoint, name="shared", version=2)  # a staff candidate
    make_version(bob, tiny_checkpoint, name="bobs", version=1)
    listed = client_for(api_url, issue_key(alice)).models.list()
    ids = [m.id for m in listed.data]
    assert ids == ["tiny", "tiny:v2", "tiny:v1", "admin/shared", "admin/shared:v1"]
    assert all(m.object == "model" and m.created > 0 for m in listed.data)
    assert {m.id: m.owned_by for m in listed.data}["admin/shared"] == "admin"
    assert (
        client_for(api_url, issue_key(admin_user)).models.retrieve("bob/bobs:v1").owned_by == "bob"
    )
