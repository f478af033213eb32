"""What a row owns on disk is said once (webapp/web/files.py): the Storage page counts exactly the
files a deletion would remove, for every kind of file owner, evaluations included."""

from __future__ import annotations

import pytest

from tests.webapp.deletion.test_evaluations import make_evaluation, make_task
from webapp import deletion
from webapp.limits import storage
from webapp.registry.models import ModelUpload
from webapp.web.files import file_owners

pytestmark = pytest.mark.django_db


@pytest.fixture
def everything(alice, alice_world, tmp_path):
    """alice's corpus, tokenizer, run and version, plus an evaluation and a task file."""
    task = make_task(alice, tmp_path)
    run = make_evaluation(alice, [alice_world["version"]], [alice_world["corpus"]], [task])
    return [*alice_world.values(), run, task]


def test_the_storage_page_counts_what_a_deletion_removes(alice, everything, media_root):
    assert {type(obj) for obj in everything} == set(file_owners()) - {ModelUpload}  # each kind
    entries = {(entry.kind, entry.name): entry for entry in storage.items(alice)}
    for obj in everything:
        plan = deletion.plan_for(obj)
        assert plan.paths == obj.owned_paths() and plan.files
        name = obj.name if hasattr(obj, "vocab_size") else str(obj)  # a tokenizer: its name
        shown = entries[(obj.noun.capitalize(), name)]
        assert shown.bytes == plan.bytes == obj.stored_bytes() > 0, obj
    assert {"Evaluation", "Evaluation task"} <= {kind for kind, _ in entries}
    on_disk = sum(p.stat().st_size for p in media_root.rglob("*") if p.is_file())
    assert storage.used_bytes(alice) == on_disk  # every file under MEDIA_ROOT is counted
