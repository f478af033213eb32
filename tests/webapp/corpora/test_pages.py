"""The corpus list and pages: each user sees, renames and deletes only their own corpora."""

import pytest

from tests.webapp.corpora.conftest import files_under
from webapp.corpora.actions import do_import_corpus
from webapp.corpora.models import Corpus, CorpusStatus
from webapp.web.access import access

pytestmark = pytest.mark.django_db

TEXT = "Lorem ipsum dolor sit amet.\nNe plus ultra: ça va!\n" * 200


@pytest.fixture
def ready(alice, tmp_path) -> Corpus:
    source = tmp_path / "latin.txt"
    source.write_text(TEXT)
    return do_import_corpus(alice, source)


def test_the_list_shows_only_my_corpora(alice_client, bob, ready):
    Corpus.objects.create(owner=bob, name="bobs-secret", size_bytes=5)
    page = alice_client.get("/corpora/").content.decode()
    assert "latin.txt" in page and "bobs-secret" not in page
    assert 'data-ws-path="/ws/corpora/"' in page and "Drop UTF-8 text files here" in page
    assert "you use 10.2 kB of 10 GiB" in page  # the default quota, exactly (not "10.7 GB")
    quota = alice_client.get("/corpora/quota/").content.decode()
    assert quota.startswith('<span id="quota"') and "you use 10.2 kB of 10 GiB" in quota


def test_a_ready_corpus_shows_statistics_preview_and_characters(alice_client, ready):
    page = alice_client.get(f"/corpora/{ready.pk}/").content.decode()
    assert ready.status == CorpusStatus.READY
    assert '<dd title="10,200 bytes of UTF-8 text as stored' in page
    assert ">10.2 kB</dd>" in page
    assert "10,000 characters</dd>" in page and "400 lines</dd>" in page
    assert "99.5 %</dd>" in page  # duplicate lines: all but the first two repeat
    assert "Lorem ipsum dolor sit amet." in page  # the start, in the preview
    assert "<code>U+0020</code>" in page and "latin small letter c with cedilla" in page


def test_it_hides_other_users_corpora(client, bob, ready):
    client.force_login(bob)
    for url in ("", "fragment/", "row/"):
        assert client.get(f"/corpora/{ready.pk}/{url}").status_code == 404
    assert client.post(f"/corpora/{ready.pk}/rename/", {"name": "mine"}).status_code == 404
    assert client.post(f"/corpora/{ready.pk}/delete/").status_code == 404
    assert Corpus.objects.get(pk=ready.pk).name == "latin.txt" and ready.path.exists()
    with pytest.raises(Exception, match="No such corpus"):
        access(bob, Corpus, ready.pk)


def test_it_renames(alice_client, ready):
    response = alice_client.post(f"/corpora/{ready.pk}/rename/", {"name": "Latin"}, follow=True)
    assert "Renamed to “Latin”." in response.content.decode()
    assert Corpus.objects.get(pk=ready.pk).name == "Latin"
    response = alice_client.post(f"/corpora/{ready.pk}/rename/", {"name": ""})
    assert response.status_code == 400 and "This field is required." in response.content.decode()


def test_delete_removes_the_row_and_the_files(
    alice_client, ready, media_root, django_capture_on_commit_callbacks
):
    assert (
        "Delete corpus “latin.txt”?"
        in alice_client.get(f"/corpora/{ready.pk}/delete/").content.decode()
    )
    with django_capture_on_commit_callbacks(execute=True):  # the files go after commit
        response = alice_client.post(f"/corpora/{ready.pk}/delete/", follow=True)
    assert "Deleted corpus “latin.txt” and its files (10.2 kB)." in response.content.decode()
    assert not Corpus.objects.exists() and files_under(media_root) == []


def test_fragments_render_for_live_updates(alice_client, ready):
    row = alice_client.get(f"/corpora/{ready.pk}/row/").content.decode()
    assert row.startswith(f'<tr id="corpus-{ready.pk}"') and 'data-status="ready"' in row
    fragment = alice_client.get(f"/corpora/{ready.pk}/fragment/").content.decode()
    assert "<h2>Statistics</h2>" in fragment and "<html" not in fragment


def test_a_rejected_corpus_says_why(alice_client, alice, tmp_path):
    source = tmp_path / "latin1.txt"
    source.write_bytes("café\n".encode("latin-1"))
    with pytest.raises(Exception, match="Not valid UTF-8"):
        do_import_corpus(alice, source)
    corpus = Corpus.objects.get()
    page = alice_client.get(f"/corpora/{corpus.pk}/").content.decode()
    assert 'role="alert"' in page and "Not valid UTF-8: byte E9 at offset 3" in page


def test_staff_see_every_corpus_in_the_admin(client, admin_user, ready):
    client.force_login(admin_user)
    page = client.get("/admin/corpora/corpus/").content.decode()
    assert "latin.txt" in page and "alice" in page


def test_lookups_are_per_owner(alice, bob, ready):
    Corpus.objects.create(owner=alice, name="half", size_bytes=5)
    assert list(Corpus.objects.for_user(alice).ready()) == [ready]
    assert not Corpus.objects.for_user(bob).exists()
    assert access(alice, Corpus, ready.pk).path == ready.path
