"""`manage.py import_corpus --user U FILE [--name N]`."""

import json

import pytest
from django.core.management import CommandError, call_command

from tests.webapp.corpora.conftest import files_under
from webapp.corpora.models import Corpus, CorpusStatus

pytestmark = pytest.mark.django_db


def test_it_imports_a_file_as_a_ready_corpus(alice, tmp_path, capsys):
    source = tmp_path / "poems.txt"
    source.write_text("Roses are red.\n" * 10_000)  # several chunks
    call_command("import_corpus", str(source), user="alice", name="Poems")
    printed = json.loads(capsys.readouterr().out)
    corpus = Corpus.objects.get()
    assert (
        printed["id"] == corpus.pk and printed["status"] == "ready" and printed["name"] == "Poems"
    )
    assert printed["stats"]["lines"] == 10_000 and "char_counts" not in printed["stats"]
    assert corpus.owner == alice and corpus.path.read_bytes() == source.read_bytes()


def test_it_refuses_bad_files_leaving_no_bytes(alice, tmp_path, media_root):
    empty, nul = tmp_path / "empty.txt", tmp_path / "nul.txt"
    empty.write_bytes(b"")
    nul.write_bytes(b"ab\x00cd" * 100)
    with pytest.raises(CommandError, match="is empty"):
        call_command("import_corpus", str(empty), user="alice")
    with pytest.raises(CommandError, match="NUL character at byte offset 2"):
        call_command("import_corpus", str(nul), user="alice")
    assert files_under(media_root) == []
    assert [c.status for c in Corpus.objects.all()] == [CorpusStatus.REJECTED]


def test_it_names_what_is_missing(alice, tmp_path):
    with pytest.raises(CommandError, match="no user named 'carol'"):
        call_command("import_corpus", str(tmp_path), user="carol")
    with pytest.raises(CommandError, match="not a readable file"):
        call_command("import_corpus", str(tmp_path / "nope.txt"), user="alice")
