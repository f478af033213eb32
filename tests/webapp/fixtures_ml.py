"""A ready corpus for alice, and a tokenizer trained on it (in this process, for speed; the
session's first of each kind trains, later ones copy it).

Shared by the tokenization, training and playground tests (registered in conftest.py)."""

from __future__ import annotations

import random
import shutil
import time
from pathlib import Path

import pytest

from tests import where_things_stand
from webapp.corpora.actions import do_import_corpus
from webapp.tokenization.models import TokenizerRun

WORDS = ["the", "mouse", "ate", "cheese", "cat", "città", "perché", "naïve", "日本", "🙂", "and"]


def corpus_text(lines: int = 400, seed: int = 0) -> str:
    rng = random.Random(seed)
    return "\n".join(
        " ".join(rng.choice(WORDS) for _ in range(rng.randint(3, 12))) for _ in range(lines)
    )


@pytest.fixture
def corpus(alice, tmp_path, settings):
    settings.MEDIA_ROOT = tmp_path / "media"
    source = tmp_path / "words.txt"
    source.write_text(corpus_text(), encoding="utf-8")
    return do_import_corpus(alice, source, name="words")


# What the first tokenizer run of each kind in the session trained: later ones copy it. The
# corpus is the same text every time (`corpus_text()`), so the copy is what training would make.
_trained: dict[tuple, tuple[Path, dict]] = {}


def trained_tokenizer_run(owner, corpus, name: str, special_tokens: list[str], cache_root: Path):
    """A succeeded TokenizerRun (vocab 300) of `owner` on `corpus`. The session's first of its
    kind is trained by the worker's task, in this process; later ones go through the same
    state machine (queued, running, succeeded) with a copy of its files and result, for the
    many tests that only need a trained tokenizer row (tokenization's own tests train theirs)."""
    from webapp.jobs.models import JobStatus
    from workers.tokenization import train_tokenizer_run

    run = TokenizerRun.objects.create(
        owner=owner, name=name, vocab_size=300, special_tokens=list(special_tokens)
    )
    run.corpora.set([corpus])
    key = (tuple(special_tokens), corpus.path.read_bytes())
    if key not in _trained:
        train_tokenizer_run(run.pk)
        run.refresh_from_db()
        assert run.status == "succeeded", run.error
        copy = cache_root / f"tokenizer-{len(_trained)}"
        shutil.copytree(run.directory, copy)
        _trained[key] = (copy, run.result)
        return run
    files, result = _trained[key]
    assert run.mark_running()
    shutil.copytree(files, run.directory)
    per_corpus = [{**entry, "corpus_id": corpus.pk, "name": corpus.name}
                  for entry in result["per_corpus"]]  # fmt: skip
    run.result = {**result, "per_corpus": per_corpus}
    run.save(update_fields=["result"])
    assert run.finish(JobStatus.SUCCEEDED)
    run.refresh_from_db()
    return run


@pytest.fixture(scope="session")
def _tokenizer_cache(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("tokenizer-runs")


@pytest.fixture
def tokenizer_run(alice, corpus, _tokenizer_cache):
    return trained_tokenizer_run(alice, corpus, "tok", ["<|endoftext|>"], _tokenizer_cache)


@pytest.fixture
def chat_tokenizer_run(alice, corpus, _tokenizer_cache):
    """Like `tokenizer_run`, with the default special tokens: the chat tokens among them."""
    from lmcore.tokenizer import SPECIAL_TOKENS

    return trained_tokenizer_run(alice, corpus, "chat-tok", SPECIAL_TOKENS, _tokenizer_cache)


def wait_for(predicate, timeout: float = 30.0, every: float = 0.1):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(every)
    raise AssertionError(f"condition not met within {timeout:g} s\n{where_things_stand.report()}")
