"""The Storage page against the files on disk, and the quota on uploads."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse

from tests.webapp.corpora.conftest import files_under, put, start
from tests.webapp.fixtures_ml import corpus_text
from webapp.corpora.actions import do_import_corpus
from webapp.corpora.models import Corpus, CorpusStatus
from webapp.registry.models import ModelVersion
from webapp.tokenization.models import TokenizerRun
from webapp.training.models import TrainingRun

pytestmark = pytest.mark.django_db
CHUNK = 64 * 1024


def disk_bytes(path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def page_rows(page: str) -> dict[str, int]:
    """The page's rows: name → the exact byte count it shows."""
    rows = re.findall(r'<td>(?:<a href="[^"]*">)?([^<]+)(?:</a>)?</td>\s*<td class="num" '
                      r'data-bytes="(\d+)"', page)  # fmt: skip
    return {name: int(size) for name, size in rows}


@pytest.fixture
def stored(alice, tmp_path, settings):
    """One of each kind of object, with files of odd sizes where the app would write them."""
    source = tmp_path / "words.txt"
    source.write_text(corpus_text(), encoding="utf-8")
    corpus = do_import_corpus(alice, source, name="words")
    tokenizer = TokenizerRun.objects.create(owner=alice, name="tok", vocab_size=300,
                                            status="succeeded", result={"vocab_size": 300})  # fmt: skip
    tokenizer.directory.mkdir(parents=True)
    (tokenizer.directory / "tokenizer.json").write_bytes(b"t" * 1234)
    run = TrainingRun.objects.create(owner=alice, name="m", tokenizer=tokenizer, preset="tiny",
                                     model_config={}, train_config={}, status="running")  # fmt: skip
    (run.directory / "data").mkdir(parents=True)
    (run.directory / "data" / "train.bin").write_bytes(b"d" * 50_001)
    run.checkpoint_dir.mkdir()
    (run.checkpoint_dir / "model.safetensors").write_bytes(b"w" * 70_003)
    (run.checkpoint_dir / "optimizer.pt").write_bytes(b"o" * 140_005)
    version = ModelVersion.objects.create(owner=alice, name="m", version=1, params=1, step=1)
    version.directory.mkdir(parents=True)
    (version.directory / "model.safetensors").write_bytes(b"w" * 70_003)
    (version.directory / "config.json").write_bytes(b"{}")
    return {"corpus": corpus, "tokenizer": tokenizer, "run": run, "version": version}


def test_the_storage_page_matches_the_files_on_disk(alice_client, bob, stored, settings):
    Corpus.objects.create(owner=bob, name="bobs", size_bytes=10**6, status=CorpusStatus.READY)
    response = alice_client.get(reverse("storage"))
    page = response.content.decode()
    rows = page_rows(page)
    assert rows == {
        "words": disk_bytes(stored["corpus"].directory),
        "tok": disk_bytes(stored["tokenizer"].directory),
        str(stored["run"]): disk_bytes(stored["run"].directory),
        "m v1": disk_bytes(stored["version"].directory),
    }  # bob's corpus is not alice's
    total = disk_bytes(settings.MEDIA_ROOT)  # every file under MEDIA_ROOT is alice's
    assert response.context["used_bytes"] == total == sum(rows.values())
    assert f'<th class="num" data-bytes="{total}">' in page
    assert "of your <strong>10 GiB</strong> quota" in page and "running: growing" in page
    assert 'href="/storage/" aria-current="page">Storage</a>' in page  # in the nav

    # A running run is walked again each time: its new checkpoint shows at once.
    (stored["run"].checkpoint_dir / "step-2.bin").write_bytes(b"x" * 999)
    rows = page_rows(alice_client.get(reverse("storage")).content.decode())
    assert rows[str(stored["run"])] == disk_bytes(stored["run"].directory)

    # A run being deleted keeps its files until it stops: still counted, no longer linked.
    TrainingRun.objects.filter(pk=stored["run"].pk).update(delete_requested=True)
    page = alice_client.get(reverse("storage")).content.decode()
    assert page_rows(page)[str(stored["run"])] == disk_bytes(stored["run"].directory)
    assert stored["run"].get_absolute_url() not in page and "being deleted" in page


def test_over_quota_the_page_says_so(alice_client, stored, settings):
    settings.STORAGE_QUOTA_BYTES = 100_000
    page = alice_client.get(reverse("storage")).content.decode()
    assert "You are over your quota: uploads and new jobs are refused" in page


def test_an_upload_over_quota_is_refused_before_its_body_and_its_bytes_deleted(
    alice_client, alice, settings
):
    settings.CORPUS_CHUNK_BYTES = CHUNK
    settings.STORAGE_QUOTA_BYTES = 5 * CHUNK
    data = b"hello world\n" * (3 * CHUNK // 12)
    refused = start(alice_client, name="big.txt", size=6 * CHUNK)
    assert refused.status_code == 413 and "does not fit in your quota" in refused.json()["error"]
    corpus = Corpus.objects.get(pk=start(alice_client, name="a.txt", size=len(data)).json()["id"])
    assert put(alice_client, corpus.pk, 0, data[:CHUNK]).status_code == 200
    assert files_under(settings.MEDIA_ROOT) == [corpus.upload_path]
    # Meanwhile a run's checkpoints took the room this upload had at its start.
    run_dir = settings.MEDIA_ROOT / "tokenizers" / f"user-{alice.pk}" / "k"
    tokenizer = TokenizerRun.objects.create(owner=alice, name="t", vocab_size=300,
                                            storage_key="k", status="running")  # fmt: skip
    run_dir.mkdir(parents=True)
    (run_dir / "tokenizer.json").write_bytes(b"t" * (3 * CHUNK))
    response = put(alice_client, corpus.pk, CHUNK, data[CHUNK : 2 * CHUNK])
    assert response.status_code == 413
    assert response.json()["error"].startswith("Upload stopped: you use 393 kB of your 328 kB")
    corpus.refresh_from_db()
    assert corpus.status == CorpusStatus.REJECTED and corpus.error == response.json()["error"]
    assert files_under(settings.MEDIA_ROOT) == [tokenizer.directory / "tokenizer.json"]


def test_staff_have_no_quota(alice_client, alice, settings):
    settings.STORAGE_QUOTA_BYTES = 10
    alice.is_staff = True
    alice.save()
    assert start(alice_client, name="big.txt", size=1000).status_code == 201
    page = alice_client.get(reverse("storage")).content.decode()
    assert "(no quota)" in page and "Uploading: reserved at its full size" in page
