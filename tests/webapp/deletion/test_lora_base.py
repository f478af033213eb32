"""A version that LoRA versions are adapters on cannot be deleted under them: its Delete page
says which to merge or delete first and a POST changes nothing; once they are gone it goes.
Deleting the adapter leaves the base's files; deleting the user takes both."""

import shutil

import pytest

from tests.webapp.playground.conftest import build_tiny_checkpoint
from tests.webapp.training.test_finetune_lora import make_lora_version
from webapp.registry.models import ModelVersion

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def base(alice, tmp_path):
    from webapp.registry.actions import do_create_version

    (tmp_path / "ck").mkdir()
    checkpoint = build_tiny_checkpoint(tmp_path / "ck")

    def fill(target):
        for item in checkpoint.iterdir():
            shutil.copy(item, target / item.name)

    return do_create_version(alice, "tiny", fill, params=1, step=1)


def test_a_base_with_a_lora_child_is_refused_until_the_child_goes(alice_client, base):
    adapter = make_lora_version(base)
    url = f"/models/{base.pk}/delete/"
    html = alice_client.get(url).content.decode()
    assert (f"Refused: LoRA version “{adapter}” stores only an adapter on this version’s weights"
            in html.replace("&#x27;", "’").replace("'", "’"))  # fmt: skip
    assert "merge it into a plain version (Merge, on its page) or delete it first" in html
    response = alice_client.post(url)
    assert response.status_code == 409
    assert ModelVersion.objects.filter(pk=base.pk).exists()
    assert (base.directory / "model.safetensors").exists()

    response = alice_client.post(f"/models/{adapter.pk}/delete/", follow=True)
    assert response.status_code == 200 and not adapter.directory.exists()
    assert (base.directory / "model.safetensors").exists()  # the adapter's files only went
    response = alice_client.post(url, follow=True)
    assert f"Deleted model version “{base}”" in response.content.decode()
    assert not base.directory.exists()


def test_deleting_the_user_takes_the_base_and_its_adapters(alice, base):
    adapter = make_lora_version(base)
    alice.delete()  # RESTRICT lets a deletion that takes both through
    assert not ModelVersion.objects.filter(pk__in=[base.pk, adapter.pk]).exists()
