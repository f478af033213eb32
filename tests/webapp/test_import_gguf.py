"""A GGUF file becomes a version through `manage.py import_model FILE.gguf` and through the
chunked upload (a real Celery worker imports it); a bad file is refused with the reason and
stores nothing."""

import json
import time

import pytest
from django.core.management import CommandError, call_command

from webapp.registry.models import ModelUpload, ModelVersion

pytestmark = pytest.mark.django_db(transaction=True)
pytest.importorskip("transformers", reason="transformers is a dev dependency")
CHUNK = 64 * 1024
CHATML = ("{% for m in messages %}{{ '<|im_start|>' + m['role'] + '\\n' + m['content'] }}"
          "{% endfor %}")  # fmt: skip


@pytest.fixture(scope="module")
def gguf_file(tmp_path_factory):
    from lmcore.tokenizer import TokenizerConfig, train_tokenizer
    from tests.gguf_files import write_llama_gguf
    from tests.hf_models import hf_model
    from tests.webapp.fixtures_ml import corpus_text

    root = tmp_path_factory.mktemp("gguf")
    (root / "text.txt").write_text(corpus_text(), encoding="utf-8")
    tokenizer = train_tokenizer([root / "text.txt"], TokenizerConfig(vocab_size=300))
    eot = tokenizer.special_tokens["<|endoftext|>"]
    model = hf_model("llama-gqa", tokenizer.vocab_size)
    return write_llama_gguf(root / "tiny-llama.Q8_0.gguf", model, tokenizer, "Q8_0",
                            chat_template=CHATML, specials={"eos": eot})  # fmt: skip


@pytest.fixture(autouse=True)
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.CORPUS_CHUNK_BYTES = CHUNK
    return settings.MEDIA_ROOT


def _stored(media):
    return sorted(p.relative_to(media).as_posix() for p in media.rglob("*") if p.is_file())


def test_the_command_imports_a_gguf_file(gguf_file, admin_user, media, capsys):
    from lmcore.checkpoint import load_checkpoint

    call_command("import_model", str(gguf_file), "--name", "tiny")
    summary = json.loads(capsys.readouterr().out)
    version = ModelVersion.objects.get()
    assert (summary["name"], summary["version"]) == ("tiny", 1)
    assert version.metrics["imported"] == {"architecture": "llama GGUF (F32, Q8_0)",
                                           "source": "tiny-llama.Q8_0.gguf"}  # fmt: skip
    assert version.params == load_checkpoint(version.directory).model.num_params()
    config = json.loads((version.directory / "config.json").read_text())
    assert config["chat_template"]["template"] == CHATML
    assert version.is_chat  # it came with a chat template
    assert _stored(media) == [
        f"models/user-{admin_user.pk}/{version.storage_key}/{n}"
        for n in ("config.json", "model.safetensors", "tokenizer.json")
    ]


def test_the_command_refuses_a_bad_gguf_and_stores_nothing(gguf_file, admin_user, media, tmp_path):
    bad = tmp_path / "cut.gguf"
    bad.write_bytes(gguf_file.read_bytes()[:3000])
    with pytest.raises(CommandError, match="cut.gguf: not a readable GGUF file"):
        call_command("import_model", str(bad), "--name", "tiny")
    text = tmp_path / "notes.gguf"
    text.write_text("hello")
    with pytest.raises(CommandError, match="notes.gguf: not a GGUF file"):
        call_command("import_model", str(text), "--name", "tiny")
    assert ModelVersion.objects.count() == 0
    assert _stored(media) == []


@pytest.fixture
def admin_client(client, admin_user):
    client.force_login(admin_user)
    return client


def _send(client, data, name):
    body = {"name": name, "size": len(data), "last_modified": 1700000000000}
    info = client.post("/models/uploads/?model=tiny", body, content_type="application/json")
    assert info.status_code == 201, info.content
    pk = info.json()["id"]
    for offset in range(0, len(data), CHUNK):
        chunk = data[offset : offset + CHUNK]
        response = client.put(f"/models/uploads/{pk}/?offset={offset}", chunk,
                              content_type="application/octet-stream")  # fmt: skip
        assert response.status_code == 200
    deadline = time.monotonic() + 60
    while (upload := ModelUpload.objects.get(pk=pk)).status in ("uploading", "importing"):
        assert time.monotonic() < deadline, f"upload {pk} still {upload.status}"
        time.sleep(0.05)
    return upload


def test_an_uploaded_gguf_becomes_a_version(admin_client, gguf_file, celery_worker, media):
    upload = _send(admin_client, gguf_file.read_bytes(), "tiny-llama.Q8_0.gguf")
    assert upload.status == "imported", upload.error
    version = ModelVersion.objects.get()
    assert upload.version == version
    assert version.metrics["imported"]["source"] == "tiny-llama.Q8_0.gguf"
    assert list((media / "model-uploads").rglob("*")) == [
        media / "model-uploads" / f"user-{upload.owner_id}"
    ]


def test_a_bad_uploaded_gguf_is_rejected_and_nothing_is_stored(
    admin_client, gguf_file, celery_worker, media
):
    data = gguf_file.read_bytes()
    upload = _send(admin_client, data[: len(data) // 2], "half.gguf")
    assert upload.status == "rejected"
    assert "not a readable GGUF file (truncated or damaged" in upload.error
    assert ModelVersion.objects.count() == 0
    assert [p for p in media.rglob("*") if p.is_file()] == []
