"""Version page: "Download GGUF" (F16, Q8_0) streams a GGUF file that reads back, written a
block of rows at a time: the web process never holds the model."""

import asyncio
import shutil
import tracemalloc

import pytest
import torch
from django.test import RequestFactory
from django.urls import reverse

from webapp.registry.models import ModelVersion
from webapp.registry.views import download_gguf

pytestmark = pytest.mark.django_db


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    """A 42 MB model (fp32): holding it, or its 21 MB F16 file, whole would show."""
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


@pytest.mark.parametrize("qtype", ["F16", "Q8_0"])
def test_it_streams_a_gguf_that_reads_back(alice, checkpoint, settings, tmp_path, qtype):
    from gguf import GGUFReader

    from lmcore.checkpoint import load_checkpoint
    from lmcore.gguf_import import import_gguf

    version = _version(alice, checkpoint, settings, tmp_path)
    url = reverse("registry:download_gguf", args=[version.pk])
    request = RequestFactory().get(url, {"type": qtype.lower()})
    request.user = alice
    response = download_gguf(request, version.pk)
    assert response["Content-Disposition"] == f'attachment; filename="m-v3.{qtype}.gguf"'
    body, peak = _stream(response)
    assert len(body) > 11e6 and peak < 12e6  # a few blocks of rows, never the 42 MB model
    (tmp_path / "m.gguf").write_bytes(body)
    reader = GGUFReader(tmp_path / "m.gguf")
    assert reader.fields["general.name"].contents() == "m-v3"
    assert reader.fields["general.architecture"].contents() == "lmcore"
    assert {t.tensor_type.name for t in reader.tensors} == {qtype}
    import_gguf(tmp_path / "m.gguf", tmp_path / "back")
    back, ours = load_checkpoint(tmp_path / "back"), load_checkpoint(version.directory)
    ids = torch.tensor([[5, 17, 42, 7, 99]])
    with torch.no_grad():
        assert (back.model(ids)[0] - ours.model(ids)[0]).abs().max().item() < 0.05
    assert list((tmp_path / "media" / "tmp").iterdir()) == []  # the temp file is gone


def test_only_the_owner_and_staff_download_and_bad_types_get_a_message(
    client, alice, bob, checkpoint, settings, tmp_path
):
    version = _version(alice, checkpoint, settings, tmp_path)
    url = reverse("registry:download_gguf", args=[version.pk])
    client.force_login(bob)
    assert client.get(url).status_code == 404
    client.force_login(alice)
    page = client.get(version.get_absolute_url()).content.decode()
    assert f"{url}?type=F16" in page and f"{url}?type=Q8_0" in page
    response = client.get(url, {"type": "Q4_0"}, follow=True)
    assert "cannot be exported as GGUF: GGUF type &#x27;Q4_0&#x27; is not offered" in (
        response.content.decode()
    )
