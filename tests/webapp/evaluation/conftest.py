"""A playable tiny version for alice (the playground's), a corpus long enough for cloze
passages, and a task file uploaded through the page."""

from __future__ import annotations

import json

import pytest

from tests.webapp.fixtures_ml import corpus_text
from tests.webapp.playground.conftest import make_version, tiny_checkpoint  # noqa: F401
from webapp.corpora.actions import do_import_corpus

TASK_YAML = """task: words_mc
output_type: multiple_choice
doc_to_text: "{{context}}"
doc_to_choice: "{{choices}}"
doc_to_target: gold
"""
ITEMS = [{"context": "the mouse ate", "choices": ["cheese", "città"], "gold": 0},
         {"context": "the cat", "choices": ["ate", "naïve"], "gold": 0},
         {"context": "perché the", "choices": ["mouse", "🙂"], "gold": 1}]  # fmt: skip


@pytest.fixture(autouse=True)
def media_root(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    return settings.MEDIA_ROOT


@pytest.fixture
def version(alice, tiny_checkpoint):  # noqa: F811
    return make_version(alice, tiny_checkpoint)


@pytest.fixture
def long_corpus(alice, tmp_path):
    source = tmp_path / "long.txt"
    source.write_text(corpus_text(lines=3000), encoding="utf-8")  # a tail of ~15 kB
    return do_import_corpus(alice, source, name="long")


def upload_task(client, yaml_text: str = TASK_YAML, items: list[dict] | None = None):
    from django.core.files.uploadedfile import SimpleUploadedFile
    from django.urls import reverse

    lines = "".join(json.dumps(i, ensure_ascii=False) + "\n" for i in (items or ITEMS))
    return client.post(reverse("evaluation:tasks"), {
        "task_yaml": SimpleUploadedFile("words.yaml", yaml_text.encode()),
        "items": SimpleUploadedFile("words.jsonl", lines.encode()),
    })  # fmt: skip
