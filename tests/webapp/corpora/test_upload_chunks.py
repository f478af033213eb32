"""PUT /corpora/uploads/<id>/?offset=N: chunks land in order, once, for their owner only."""

import pytest

from tests.webapp.corpora.conftest import CHUNK, files_under, put, start
from webapp.corpora.actions import UploadError, do_receive_chunk
from webapp.corpora.models import Corpus, CorpusStatus

pytestmark = pytest.mark.django_db


@pytest.fixture
def upload_id(alice_client) -> int:
    return start(alice_client, name="a.txt", size=25).json()["id"]


def test_it_appends_chunks_in_order(alice_client, upload_id):
    assert put(alice_client, upload_id, 0, b"0123456789").json()["received_bytes"] == 10
    assert put(alice_client, upload_id, 10, b"abcdefghij").json()["received_bytes"] == 20
    corpus = Corpus.objects.get(pk=upload_id)
    assert corpus.upload_path.read_bytes() == b"0123456789abcdefghij"
    assert alice_client.get(f"/corpora/uploads/{upload_id}/").json()["received_bytes"] == 20


def test_it_refuses_a_chunk_at_the_wrong_offset(alice_client, upload_id):
    put(alice_client, upload_id, 0, b"0123456789")
    for offset in (0, 5, 15):
        response = put(alice_client, upload_id, offset, b"XXXXX")
        assert response.status_code == 409
        assert response.json() == {
            "error": f"Expected the chunk at offset 10, got {offset}: resume from 10.",
            "received_bytes": 10,
        }
    corpus = Corpus.objects.get(pk=upload_id)
    assert corpus.received_bytes == 10 and corpus.upload_path.read_bytes() == b"0123456789"


def test_only_one_of_two_requests_for_the_same_offset_lands(alice_client, upload_id):
    first, second = Corpus.objects.get(pk=upload_id), Corpus.objects.get(pk=upload_id)
    do_receive_chunk(first, 0, _Body(b"aaaaaaaaaa"), 10, send=None)
    with pytest.raises(UploadError) as info:  # `second` still believes 0 bytes arrived
        do_receive_chunk(second, 0, _Body(b"bbbbbbbbbb"), 10, send=None)
    assert info.value.status == 409 and info.value.extra == {"received_bytes": 10}
    assert first.upload_path.read_bytes() == b"aaaaaaaaaa"


def test_it_gives_back_the_claim_of_a_chunk_that_ends_early(upload_id):
    corpus = Corpus.objects.get(pk=upload_id)
    with pytest.raises(UploadError, match="ended after 3 of its 10 bytes"):
        do_receive_chunk(corpus, 0, _Body(b"abc"), 10, send=None)
    assert Corpus.objects.get(pk=upload_id).received_bytes == 0


def test_it_refuses_a_chunk_for_another_users_upload(client, bob, upload_id):
    client.force_login(bob)
    response = put(client, upload_id, 0, b"0123456789")
    assert response.status_code == 404 and response.json() == {"error": "No such upload."}
    assert client.get(f"/corpora/uploads/{upload_id}/").status_code == 404
    assert client.delete(f"/corpora/uploads/{upload_id}/").status_code == 404
    corpus = Corpus.objects.get(pk=upload_id)
    assert corpus.received_bytes == 0 and corpus.upload_path.read_bytes() == b""


def test_it_refuses_bytes_past_the_declared_size(alice_client, upload_id):
    response = put(alice_client, upload_id, 0, b"x" * 26)
    assert response.status_code == 400
    assert "past the file's declared size of 25 bytes" in response.json()["error"]
    assert Corpus.objects.get(pk=upload_id).upload_path.read_bytes() == b""


def test_it_refuses_a_chunk_larger_than_the_chunk_size(alice_client):
    pk = start(alice_client, name="a.txt", size=CHUNK * 2).json()["id"]
    response = put(alice_client, pk, 0, b"x" * (CHUNK + 1))
    assert response.status_code == 413 and "Chunks are at most" in response.json()["error"]


def test_it_refuses_a_chunk_without_an_offset(alice_client, upload_id):
    response = alice_client.put(f"/corpora/uploads/{upload_id}/", b"abc")
    assert response.status_code == 400 and "?offset=" in response.json()["error"]


def test_it_rejects_a_png_renamed_txt_at_its_first_chunk(alice_client, media_root):
    png = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)) * 10
    pk = start(alice_client, name="photo.txt", size=len(png) * 4).json()["id"]
    response = put(alice_client, pk, 0, png)
    assert response.status_code == 422
    assert response.json()["error"].startswith("This file is a PNG image, not text.")
    corpus = Corpus.objects.get(pk=pk)
    assert corpus.status == CorpusStatus.REJECTED and corpus.error == response.json()["error"]
    assert files_under(media_root) == []
    late = put(alice_client, pk, len(png), png)  # no more bytes accepted
    assert late.status_code == 409 and late.json()["state"] == "rejected"


def test_cancelling_deletes_the_row_and_the_bytes(
    alice_client, upload_id, media_root, django_capture_on_commit_callbacks
):
    put(alice_client, upload_id, 0, b"0123456789")
    with django_capture_on_commit_callbacks(execute=True):  # the bytes go after commit
        assert alice_client.delete(f"/corpora/uploads/{upload_id}/").status_code == 204
    assert not Corpus.objects.exists() and files_under(media_root) == []


def test_resuming_trusts_the_file_over_a_count_a_crash_left_ahead(alice_client, upload_id):
    put(alice_client, upload_id, 0, b"0123456789")
    Corpus.objects.filter(pk=upload_id).update(received_bytes=20)  # claimed, never written
    again = start(alice_client, name="a.txt", size=25)  # no fingerprint: a new upload
    assert again.json()["id"] != upload_id
    Corpus.objects.filter(pk=upload_id).update(fingerprint="a.txt:25:9")
    resumed = start(alice_client, name="a.txt", size=25, last_modified=9).json()
    assert resumed["id"] == upload_id and resumed["received_bytes"] == 10


class _Body:
    def __init__(self, data: bytes) -> None:
        self.data = data

    def read(self, n: int) -> bytes:
        chunk, self.data = self.data[:n], self.data[n:]
        return chunk
