import pytest

pytestmark = pytest.mark.django_db


def test_it_serves_admin_to_staff(client, admin_user):
    client.force_login(admin_user)
    assert client.get("/admin/").status_code == 200


def test_it_refuses_admin_to_other_users(alice_client):
    response = alice_client.get("/admin/")
    assert response.status_code == 302
    assert "/admin/login/" in response["Location"]


def test_it_links_admin_for_staff_only(client, alice, admin_user):
    client.force_login(alice)
    assert b'href="/admin/"' not in client.get("/").content
    client.force_login(admin_user)
    assert b'href="/admin/"' in client.get("/").content
