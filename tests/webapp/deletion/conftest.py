"""Rows with real files on disk for the deletion tests: each owner's corpus, tokenizer,
training run and version, made by hand (no training: deletion only needs the files)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from webapp.corpora.actions import do_import_corpus
from webapp.registry.actions import do_create_version
from webapp.tokenization.models import TokenizerRun
from webapp.training.models import RunEvent, TrainingRun


@pytest.fixture(autouse=True)
def media_root(settings, tmp_path) -> Path:
    settings.MEDIA_ROOT = tmp_path / "media"
    return settings.MEDIA_ROOT


def files_under(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file()) if root.exists() else []


def make_corpus(owner, tmp_path: Path, text: str = "some words\n", **kwargs):
    source = tmp_path / f"source-{owner.pk}-{len(text)}.txt"
    source.write_text(text, encoding="utf-8")
    return do_import_corpus(owner, source, name=kwargs.pop("name", "words"), **kwargs)


def make_tokenizer(owner, corpora=(), status="succeeded", name="tok") -> TokenizerRun:
    run = TokenizerRun.objects.create(owner=owner, name=name, vocab_size=300, status=status)
    run.corpora.set(corpora)
    run.directory.mkdir(parents=True)
    run.tokenizer_path.write_text("{}", encoding="utf-8")
    return run


def make_training(owner, tokenizer, corpora=(), status="succeeded", **fields) -> TrainingRun:
    run = TrainingRun.objects.create(
        owner=owner, name=fields.pop("name", "m"), tokenizer=tokenizer, preset="tiny",
        model_config={}, train_config=fields.pop("train_config", {}), status=status, **fields,
    )  # fmt: skip
    run.corpora.set(corpora)
    run.checkpoint_dir.mkdir(parents=True)
    (run.checkpoint_dir / "config.json").write_text(json.dumps({"step": 10}), encoding="utf-8")
    (run.directory / "data").mkdir()
    (run.directory / "data" / "train.bin").write_bytes(b"\0" * 1000)
    RunEvent.objects.create(run=run, type="run.metrics", step=10, data={"loss": 1.0})
    return run


def _fill(target: Path) -> None:
    for name in ("model.safetensors", "config.json", "tokenizer.json"):
        (target / name).write_bytes(b"{}")


def make_version(owner, run=None, name="m", **fields):
    tokenizer = run.tokenizer if run is not None else fields.pop("tokenizer", None)
    return do_create_version(
        owner, name, _fill, run=run, tokenizer=tokenizer, params=1, step=10, **fields
    )


@pytest.fixture
def alice_world(alice, tmp_path):
    """alice's corpus → tokenizer → training run → version: one of everything, with files."""
    corpus = make_corpus(alice, tmp_path)
    tokenizer = make_tokenizer(alice, [corpus])
    run = make_training(alice, tokenizer, [corpus])
    version = make_version(alice, run)
    return {"corpus": corpus, "tokenizer": tokenizer, "run": run, "version": version}


@pytest.fixture
def bob_world(bob, tmp_path):
    corpus = make_corpus(bob, tmp_path, text="bob's own words\n")
    tokenizer = make_tokenizer(bob, [corpus])
    run = make_training(bob, tokenizer, [corpus])
    version = make_version(bob, run)
    return {"corpus": corpus, "tokenizer": tokenizer, "run": run, "version": version}
