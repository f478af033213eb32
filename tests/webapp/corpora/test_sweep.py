"""The periodic sweeps: abandoned uploads and lost validations (the upload sweep), crashed
validations (the job sweep), through the real beat tasks."""

from datetime import timedelta

import pytest
from django.utils import timezone

from tests.webapp.corpora.conftest import files_under, put, settled, start
from webapp.corpora.models import Corpus, CorpusStatus
from workers.app import app
from workers.corpora import sweep_abandoned_uploads
from workers.tasks import sweep_stale_jobs

pytestmark = pytest.mark.django_db(transaction=True)


def _sweep() -> dict:
    return sweep_abandoned_uploads.apply_async(queue="cpu", ignore_result=False).get(timeout=20)


def test_it_is_scheduled_on_the_cpu_queue():
    entry = app.conf.beat_schedule["sweep-abandoned-uploads"]
    assert entry["task"] == "workers.corpora.sweep_abandoned_uploads"
    assert entry["options"]["queue"] == "cpu" and entry["schedule"] > 0


def test_it_deletes_an_upload_abandoned_half_way(alice_client, celery_worker, settings, media_root):
    settings.CORPUS_ABANDON_HOURS = 24
    pk = start(alice_client, name="half.txt", size=20_000).json()["id"]
    put(alice_client, pk, 0, b"x" * 10_000)
    fresh = start(alice_client, name="fresh.txt", size=20).json()["id"]
    Corpus.objects.filter(pk=pk).update(updated_at=timezone.now() - timedelta(hours=25))

    assert _sweep() == {"abandoned": 1, "requeued": 0}
    corpus = Corpus.objects.get(pk=pk)
    assert corpus.status == CorpusStatus.REJECTED
    assert corpus.error == (
        "Upload abandoned: nothing arrived for 24 hours, so the 10 kB received were deleted. "
        "Upload the file again."
    )
    assert files_under(media_root) == [Corpus.objects.get(pk=fresh).upload_path]
    assert alice_client.put(f"/corpora/uploads/{pk}/?offset=10000", b"x").status_code == 409


def test_it_gives_up_on_a_validation_whose_worker_died(alice, celery_worker, media_root):
    corpus = Corpus.objects.create(
        owner=alice, name="a", size_bytes=3, received_bytes=3, status=CorpusStatus.VALIDATING,
        heartbeat_at=timezone.now() - timedelta(hours=1),
    )  # fmt: skip
    corpus.directory.mkdir(parents=True)
    corpus.upload_path.write_bytes(b"abc")
    assert sweep_stale_jobs.apply_async(queue="cpu", ignore_result=False).get(timeout=20) == 1
    corpus.refresh_from_db()
    assert corpus.status == CorpusStatus.REJECTED and "worker crashed" in corpus.error
    assert files_under(media_root) == []


def test_it_queues_again_a_validation_whose_message_was_lost(alice, celery_worker):
    corpus = Corpus.objects.create(
        owner=alice, name="a", size_bytes=4, received_bytes=4, status=CorpusStatus.VALIDATING
    )
    corpus.directory.mkdir(parents=True)
    corpus.upload_path.write_bytes(b"abc\n")
    Corpus.objects.filter(pk=corpus.pk).update(updated_at=timezone.now() - timedelta(hours=1))
    assert _sweep()["requeued"] == 1
    assert settled(corpus).status == CorpusStatus.READY
