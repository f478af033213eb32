"""From the last chunk to `ready` or `rejected`, through the real worker, Redis and channel layer."""

import asyncio
import codecs
import hashlib

import pytest
from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer

from tests.webapp.corpora.conftest import files_under, settled, upload
from webapp.corpora import events
from webapp.corpora.actions import do_validate_corpus
from webapp.corpora.models import Corpus, CorpusStatus

pytestmark = pytest.mark.django_db(transaction=True)

TEXT = ("It was the best of times, it was the worst of times.\nÀ bientôt.\n" * 3000).encode()


def test_it_validates_and_measures_an_upload(alice_client, celery_worker, media_root):
    corpus = settled(upload(alice_client, TEXT, name="dickens.txt"))
    assert corpus.status == CorpusStatus.READY, corpus.error
    assert corpus.sha256 == hashlib.sha256(TEXT).hexdigest()
    assert corpus.size_bytes == len(TEXT) and corpus.progress == 1.0
    assert corpus.stats["lines"] == 6000 and corpus.stats["words"] == 3000 * 14
    assert corpus.stats["duplicate_line_share"] == pytest.approx(5998 / 6000)
    assert corpus.path.read_bytes() == TEXT
    assert files_under(media_root) == [corpus.path]  # the partial file became the text
    assert corpus.to_dict()["stats"]["characters"] == len(TEXT.decode())


def test_it_accepts_utf16_with_a_bom_and_stores_utf8(alice_client, celery_worker, media_root):
    text = "Ἐν ἀρχῇ ἦν ὁ λόγος\n" * 2000
    corpus = settled(upload(alice_client, codecs.BOM_UTF16_LE + text.encode("utf-16-le")))
    assert corpus.status == CorpusStatus.READY, corpus.error
    assert corpus.notice.startswith("Transcoded from UTF-16 LE")
    assert corpus.path.read_bytes() == text.encode()
    assert (
        corpus.stats["source_encoding"] == "utf-16-le" and corpus.stats["scripts"][0][0] == "Greek"
    )
    assert files_under(media_root) == [corpus.path]


def test_it_rejects_invalid_utf8_in_the_middle_of_a_large_file(
    alice_client, celery_worker, media_root
):
    data = b"x" * 1_500_000 + b"\n na\xefve \n" + b"y" * 1_500_000
    corpus = settled(upload(alice_client, data))
    assert corpus.status == CorpusStatus.REJECTED
    assert corpus.error.startswith(
        "Not valid UTF-8: byte EF at offset 1,500,004 (just after “xxxxxxxxxxxxxxxxxxxx\\n na”)."
    )
    assert files_under(media_root) == []


def test_it_rejects_nul_bytes(alice_client, celery_worker, media_root):
    corpus = settled(upload(alice_client, b"a" * 100_000 + b"\x00" + b"b" * 10))
    assert corpus.status == CorpusStatus.REJECTED
    assert "NUL character at byte offset 100,000" in corpus.error
    assert files_under(media_root) == []


def test_it_rejects_a_file_holding_only_a_byte_order_mark(alice_client, celery_worker, media_root):
    corpus = settled(upload(alice_client, codecs.BOM_UTF8))
    assert corpus.status == CorpusStatus.REJECTED and "only a byte order mark" in corpus.error
    assert files_under(media_root) == []


def test_it_recognises_a_duplicate_and_stores_it_once(alice_client, celery_worker, media_root):
    first = settled(upload(alice_client, TEXT, name="one.txt"))
    second = settled(upload(alice_client, TEXT, name="two.txt"))
    assert second.status == CorpusStatus.REJECTED and second.duplicate_of == first
    assert second.error.startswith(
        "You already have this text as “one.txt”; nothing new was stored."
    )
    assert files_under(media_root) == [first.path]


def test_another_user_may_upload_the_same_text(alice_client, client, bob, celery_worker):
    settled(upload(alice_client, TEXT))
    client.force_login(bob)
    assert settled(upload(client, TEXT)).status == CorpusStatus.READY


def test_it_pushes_each_status_to_the_owners_pages(alice_client, alice, celery_worker):
    layer = get_channel_layer()
    channel = async_to_sync(layer.new_channel)()
    async_to_sync(layer.group_add)(events.user_group(alice.pk), channel)
    corpus = settled(upload(alice_client, TEXT))
    statuses = async_to_sync(_statuses_until_ready)(layer, channel)
    assert statuses[0] == "uploading" and "validating" in statuses
    assert corpus.status == "ready"


async def _statuses_until_ready(layer, channel) -> list[str]:
    statuses: list[str] = []
    while not statuses or statuses[-1] != "ready":
        statuses.append((await asyncio.wait_for(layer.receive(channel), 10))["status"])
    return statuses


def test_it_validates_once_even_if_the_task_comes_twice(alice_client, celery_worker):
    corpus = settled(upload(alice_client, TEXT))
    assert do_validate_corpus(corpus.pk).status == CorpusStatus.READY  # a no-op
    assert Corpus.objects.get(pk=corpus.pk).updated_at == corpus.updated_at


def test_a_corpus_deleted_before_its_validation_leaves_no_file(alice, media_root):
    corpus = Corpus.objects.create(
        owner=alice, name="a", size_bytes=3, received_bytes=3, status=CorpusStatus.VALIDATING
    )
    corpus.directory.mkdir(parents=True)
    corpus.upload_path.write_bytes(b"abc")
    Corpus.objects.filter(pk=corpus.pk).delete()  # its files go after commit (webapp/deletion.py)
    assert do_validate_corpus(corpus.pk) is None
    assert files_under(media_root) == []


def test_a_worker_that_cannot_see_the_bytes_says_so(alice, media_root):
    corpus = Corpus.objects.create(
        owner=alice, name="a", size_bytes=3, received_bytes=3, status=CorpusStatus.VALIDATING
    )  # its .part lives on another machine's disk
    corpus = do_validate_corpus(corpus.pk)
    assert corpus.status == CorpusStatus.REJECTED
    assert "missing on the worker's disk (MEDIA_ROOT must be storage shared" in corpus.error
