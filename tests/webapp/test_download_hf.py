"""Models page: "Download for transformers" streams a zip that transformers loads."""

import asyncio
import io
import shutil
import tracemalloc
import zipfile

import pytest
import torch
from django.test import RequestFactory
from django.urls import reverse

from webapp.registry.models import ModelVersion
from webapp.registry.views import download_hf

pytestmark = pytest.mark.django_db
transformers = pytest.importorskip("transformers", reason="transformers is a dev dependency")


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    """A 42 MB model: big enough that holding the zip would show, small enough to be quick."""
    from lmcore.checkpoint import save_checkpoint
    from lmcore.model import GPT, GPTConfig
    from lmcore.tokenizer import TokenizerConfig, train_tokenizer
    from tests.webapp.fixtures_ml import corpus_text

    root = tmp_path_factory.mktemp("ck")
    (root / "text.txt").write_text(corpus_text(), encoding="utf-8")
    tokenizer = train_tokenizer([root / "text.txt"], TokenizerConfig(vocab_size=300))
    torch.manual_seed(0)
    config = GPTConfig(vocab_size=300, context=64, n_layer=6, n_head=6, d_model=384)
    return save_checkpoint(root / "checkpoint", GPT(config), tokenizer)


def _version(owner, checkpoint, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    version = ModelVersion.objects.create(owner=owner, name="m", version=3, params=1, step=0)
    shutil.copytree(checkpoint, version.directory)
    return version


def _stream(response) -> tuple[bytes, int]:
    """The body, read as the ASGI handler reads it, and the most Python memory held at once."""

    async def read():
        return [chunk async for chunk in response.streaming_content]

    tracemalloc.start()
    chunks = asyncio.run(read())
    peak = tracemalloc.get_traced_memory()[1] - sum(len(c) for c in chunks)
    tracemalloc.stop()
    return b"".join(chunks), peak


def test_it_streams_a_zip_that_transformers_loads(alice, checkpoint, settings, tmp_path):
    from lmcore.checkpoint import load_checkpoint

    version = _version(alice, checkpoint, settings, tmp_path)
    request = RequestFactory().get(reverse("registry:download_hf", args=[version.pk]))
    request.user = alice
    response = download_hf(request, version.pk)
    assert response["Content-Disposition"] == 'attachment; filename="m-v3-hf.zip"'
    body, peak = _stream(response)
    assert len(body) > 40e6 and peak < 4e6  # never more than a few MiB of a 42 MB zip
    zipfile.ZipFile(io.BytesIO(body)).extractall(tmp_path / "out")
    hf = transformers.AutoModelForCausalLM.from_pretrained(tmp_path / "out" / "m-v3-hf").eval()
    ids = torch.tensor([[5, 17, 42, 7, 99]])
    with torch.no_grad():
        ours = load_checkpoint(version.directory).model(ids)[0]
        assert (hf(ids).logits - ours).abs().max().item() < 1e-4


def test_only_the_owner_and_staff_download(client, alice, bob, checkpoint, settings, tmp_path):
    version = _version(alice, checkpoint, settings, tmp_path)
    client.force_login(bob)
    assert client.get(reverse("registry:download_hf", args=[version.pk])).status_code == 404
    client.force_login(alice)
    page = client.get(version.get_absolute_url())
    assert reverse("registry:download_hf", args=[version.pk]) in page.content.decode()


def test_a_model_without_a_transformers_equivalent_gets_a_message(
    client, alice, checkpoint, settings, tmp_path
):
    import json

    version = _version(alice, checkpoint, settings, tmp_path)
    config = json.loads((version.directory / "config.json").read_text())
    config["model"]["mlp"] = "swiglu"  # with nanochat's norms: no transformers class does that
    (version.directory / "config.json").write_text(json.dumps(config))
    client.force_login(alice)
    response = client.get(reverse("registry:download_hf", args=[version.pk]), follow=True)
    assert "cannot be exported for transformers: this combination of architecture options" in (
        response.content.decode()
    )


def test_the_lmcore_download_streams_too(alice, checkpoint, settings, tmp_path):
    from webapp.registry.views import download

    version = _version(alice, checkpoint, settings, tmp_path)
    request = RequestFactory().get(reverse("registry:download", args=[version.pk]))
    request.user = alice
    body, peak = _stream(download(request, version.pk))
    assert len(body) > 40e6 and peak < 4e6
    names = zipfile.ZipFile(io.BytesIO(body)).namelist()
    assert names == ["m-v3/model.safetensors", "m-v3/config.json", "m-v3/tokenizer.json"]
