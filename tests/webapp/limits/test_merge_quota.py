"""Merging a LoRA adapter writes a full copy of its base's weights: it is refused, saying so,
when that would not fit the owner's storage quota (a merge is no job: one per adapter)."""

import pytest
from django.urls import reverse

from tests.webapp.deletion.conftest import make_version

pytestmark = pytest.mark.django_db


@pytest.fixture
def adapter(alice):
    base = make_version(alice, name="base")
    (base.directory / "model.safetensors").write_bytes(b"w" * 300_000)
    return make_version(alice, name="base", base=base, is_chat=True)


def test_a_merge_that_would_not_fit_is_refused(alice_client, adapter, settings):
    settings.STORAGE_QUOTA_BYTES = 310_000  # the base fits; a second copy of it would not
    response = alice_client.post(reverse("registry:merge", args=[adapter.pk]), follow=True)
    page = response.content.decode()
    assert "storage quota" in page and "Merging" not in page
    adapter.refresh_from_db()
    assert "merge" not in adapter.metrics  # nothing queued


def test_a_merge_that_fits_is_queued(alice_client, adapter):
    response = alice_client.post(reverse("registry:merge", args=[adapter.pk]), follow=True)
    assert "Merging" in response.content.decode()
    adapter.refresh_from_db()
    assert adapter.metrics["merge"]["status"] == "queued"  # sent once this request commits
