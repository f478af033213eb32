"""Model versions: numbering, one production per name, promote/roll back, staff only, download."""

import asyncio
import io
import zipfile

import pytest
from django.db import IntegrityError
from django.urls import reverse

from webapp.registry.models import ModelVersion

pytestmark = pytest.mark.django_db


async def _body(response) -> bytes:
    """A streamed body, read as the ASGI handler reads it."""
    return b"".join([chunk async for chunk in response.streaming_content])


def _version(owner, n, name="m", tmp_path=None, settings=None):
    version = ModelVersion.objects.create(
        owner=owner, name=name, version=n, params=10, step=n, val_bpb=3.0 - n / 10
    )
    if tmp_path is not None:
        version.directory.mkdir(parents=True, exist_ok=True)
        for f in ("model.safetensors", "config.json", "tokenizer.json"):
            (version.directory / f).write_bytes(b"x" * n)
    return version


def test_promote_keeps_one_production_version_and_rolls_back(alice):
    v1, v2 = _version(alice, 1), _version(alice, 2)
    v1.promote()
    v2.promote()
    v1.refresh_from_db()
    assert (v1.status, v2.status) == ("candidate", "production")
    v1.promote()  # roll back
    v2.refresh_from_db()
    assert ModelVersion.objects.filter(status="production").get() == v1 and v2.status == "candidate"


def test_the_database_refuses_two_production_versions(alice):
    _version(alice, 1).promote()
    with pytest.raises(IntegrityError):
        ModelVersion.objects.filter(version=2).exists() or ModelVersion.objects.create(
            owner=alice, name="m", version=2, params=1, step=1, status="production"
        )


def test_only_staff_promote(client, alice, admin_user):
    version = _version(alice, 1)
    client.force_login(alice)
    response = client.post(reverse("registry:promote", args=[version.pk]))
    assert response.status_code == 302 and "/admin/login/" in response["Location"]
    version.refresh_from_db()
    assert version.status == "candidate"
    client.force_login(admin_user)
    client.post(reverse("registry:promote", args=[version.pk]))
    version.refresh_from_db()
    assert version.status == "production"


def test_users_see_their_versions_and_staff_see_all(client, alice, bob, admin_user):
    mine, theirs = _version(alice, 1, "a"), _version(bob, 1, "b")
    client.force_login(alice)
    assert list(client.get(reverse("registry:index")).context["versions"]) == [mine]
    assert client.get(theirs.get_absolute_url()).status_code == 404
    client.force_login(admin_user)
    assert set(client.get(reverse("registry:index")).context["versions"]) == {mine, theirs}


def test_compare_and_download(client, alice, tmp_path, settings):
    settings.MEDIA_ROOT = tmp_path
    v1, v2 = _version(alice, 1, tmp_path=tmp_path), _version(alice, 2, tmp_path=tmp_path)
    client.force_login(alice)
    page = client.get(reverse("registry:index"), {"compare": [v1.pk, v2.pk]})
    assert page.context["compared"] == [v2, v1]
    response = client.get(reverse("registry:download", args=[v2.pk]))
    assert response["Content-Disposition"] == 'attachment; filename="m-v2.zip"'
    archive = zipfile.ZipFile(io.BytesIO(asyncio.run(_body(response))))
    assert sorted(archive.namelist()) == [
        "m-v2/config.json",
        "m-v2/model.safetensors",
        "m-v2/tokenizer.json",
    ]
