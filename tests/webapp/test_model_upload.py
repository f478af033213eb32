"""Staff upload a zip of a transformers model in resumable chunks; a cpu task imports it."""

import io
import time
import zipfile

import pytest

from webapp.registry.models import ModelUpload, ModelVersion

pytestmark = pytest.mark.django_db(transaction=True)
pytest.importorskip("transformers", reason="transformers is a dev dependency")
CHUNK = 64 * 1024


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    from lmcore.tokenizer import TokenizerConfig, train_tokenizer
    from tests.hf_models import save_hf_model
    from tests.webapp.fixtures_ml import corpus_text

    root = tmp_path_factory.mktemp("hf")
    (root / "text.txt").write_text(corpus_text(), encoding="utf-8")
    tokenizer = train_tokenizer([root / "text.txt"], TokenizerConfig(vocab_size=300))
    save_hf_model("nanochat", tokenizer, root / "tiny-nanochat")
    return root / "tiny-nanochat"


def _zip(directory, extra=None, skip=()):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        for path in sorted(directory.iterdir()):
            if path.name not in skip:
                zf.write(path, f"{directory.name}/{path.name}")
        for name, data in (extra or {}).items():
            zf.writestr(name, data)
    return buffer.getvalue()


@pytest.fixture(autouse=True)
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.CORPUS_CHUNK_BYTES = CHUNK
    return settings.MEDIA_ROOT


@pytest.fixture
def admin_client(client, admin_user):
    client.force_login(admin_user)
    return client


def _start(client, data, name="m.zip", model="tiny"):
    body = {"name": name, "size": len(data), "last_modified": 1700000000000}
    return client.post(f"/models/uploads/?model={model}", body, content_type="application/json")


def _put(client, pk, offset, data):
    return client.put(f"/models/uploads/{pk}/?offset={offset}", data,
                      content_type="application/octet-stream")  # fmt: skip


def _settled(pk, timeout=60.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        upload = ModelUpload.objects.get(pk=pk)
        if upload.status not in ("uploading", "importing"):
            return upload
        time.sleep(0.05)
    raise AssertionError(f"upload {pk} still {upload.status} after {timeout} s")


def _send(client, data, **start):
    info = _start(client, data, **start).json()
    for offset in range(0, len(data), CHUNK):
        assert _put(client, info["id"], offset, data[offset : offset + CHUNK]).status_code == 200
    return _settled(info["id"])


def _files(root):
    return sorted(p for p in root.rglob("*") if p.is_file()) if root.exists() else []


def test_a_zip_uploaded_in_chunks_resumes_and_becomes_a_version(
    admin_client, model_dir, celery_worker, media
):
    data = _zip(model_dir)
    assert len(data) > 3 * CHUNK
    first = _start(admin_client, data)
    assert first.status_code == 201
    pk = first.json()["id"]
    assert _put(admin_client, pk, 0, data[:CHUNK]).status_code == 200
    wrong = _put(admin_client, pk, 2 * CHUNK, data[2 * CHUNK : 3 * CHUNK])
    assert wrong.status_code == 409 and wrong.json()["received_bytes"] == CHUNK
    again = _start(admin_client, data)  # the page reloaded, the same file picked again
    assert again.status_code == 200 and again.json()["received_bytes"] == CHUNK
    for offset in range(CHUNK, len(data), CHUNK):
        assert _put(admin_client, pk, offset, data[offset : offset + CHUNK]).status_code == 200
    upload = _settled(pk)
    assert upload.status == "imported", upload.error
    version = ModelVersion.objects.get()
    assert upload.version == version and version.name == "tiny"
    assert version.metrics["imported"]["architecture"] == "NanoChatForCausalLM"
    assert admin_client.get(f"/models/uploads/{pk}/").json()["version_url"] == (
        version.get_absolute_url()
    )
    assert _files(media / "model-uploads") == []  # the zip and its unpacked copy are gone


@pytest.mark.parametrize(
    "damage, message",
    [({"extra": {"../../evil.py": "x"}}, "the zip holds a path outside its root"),
     ({"skip": ("model.safetensors",), "extra": {"tiny-nanochat/pytorch_model.bin": "x"}},
      "pytorch_model.bin: pickled weights are refused"),
     ({"skip": ("tokenizer.json",)}, "no tokenizer.json")],
)  # fmt: skip
def test_a_bad_zip_is_rejected_with_the_reason_and_nothing_is_stored(
    admin_client, model_dir, celery_worker, media, damage, message
):
    upload = _send(admin_client, _zip(model_dir, **damage))
    assert upload.status == "rejected" and message in upload.error
    assert ModelVersion.objects.count() == 0
    assert _files(media) == []
    assert not (media.parent / "evil.py").exists()


def test_only_staff_upload_and_only_zips(client, alice, admin_client, model_dir):
    assert (
        _start(admin_client, b"x" * 10, name="model.tar")
        .json()["error"]
        .startswith("“model.tar” is not a .zip")
    )
    assert "Name the model first" in _start(admin_client, b"x", model="a/b").json()["error"]
    client.force_login(alice)
    assert _start(client, b"x" * 10).status_code == 302  # to the admin's sign-in
    assert ModelUpload.objects.count() == 0


def test_the_beat_sweeps_abandoned_uploads_and_left_downloads(admin_client, celery_worker,
                                                               settings, model_dir, media):  # fmt: skip
    """An upload that stopped half way stops holding its owner's quota at full size, and a
    GGUF download's file a killed server left behind goes; a fresh upload and download stay."""
    import os
    from datetime import timedelta

    from django.utils import timezone

    from webapp.registry.uploads import download_scratch
    from workers.app import app
    from workers.registry import sweep_abandoned_model_uploads

    entry = app.conf.beat_schedule["sweep-abandoned-model-uploads"]
    assert entry["task"] == "workers.registry.sweep_abandoned_model_uploads"
    settings.CORPUS_ABANDON_HOURS = 24
    data = _zip(model_dir)
    pk = _start(admin_client, data).json()["id"]
    assert _put(admin_client, pk, 0, data[:CHUNK]).status_code == 200
    fresh = _start(admin_client, data, name="fresh.zip").json()["id"]
    ModelUpload.objects.filter(pk=pk).update(updated_at=timezone.now() - timedelta(hours=25))
    scratch = download_scratch()
    scratch.mkdir(parents=True)
    (old := scratch / "download-old.part").write_bytes(b"half a gguf")
    os.utime(old, (time.time() - 7200, time.time() - 7200))
    (scratch / "download-now.part").write_bytes(b"being written")

    swept = sweep_abandoned_model_uploads.apply_async(queue="cpu", ignore_result=False)
    assert swept.get(timeout=20) == {"abandoned": 1, "downloads": 1}
    upload = ModelUpload.objects.get(pk=pk)
    assert upload.status == "rejected" and upload.error == (
        "Upload abandoned: nothing arrived for 24 hours, so the 65.5 kB received were deleted. "
        "Upload the file again."
    )
    assert not upload.upload_path.exists()
    assert list(ModelUpload.stored_by(upload.owner)) == [ModelUpload.objects.get(pk=fresh)]
    assert sorted(p.name for p in scratch.iterdir()) == ["download-now.part"]
    assert _put(admin_client, pk, CHUNK, data[CHUNK : 2 * CHUNK]).status_code == 409
