"""A ready corpus for alice, and a tokenizer trained on it (in this process, for speed).

Shared by the tokenization, training and playground tests (registered in conftest.py)."""

from __future__ import annotations

import random
import time

import pytest

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


@pytest.fixture
def tokenizer_run(alice, corpus):
    from workers.tokenization import train_tokenizer_run

    run = TokenizerRun.objects.create(
        owner=alice, name="tok", vocab_size=300, special_tokens=["<|endoftext|>"]
    )
    run.corpora.set([corpus])
    train_tokenizer_run(run.pk)
    run.refresh_from_db()
    assert run.status == "succeeded", run.error
    return run


@pytest.fixture
def chat_tokenizer_run(alice, corpus):
    """Like `tokenizer_run`, with the default special tokens: the chat tokens among them."""
    from lmcore.tokenizer import SPECIAL_TOKENS
    from workers.tokenization import train_tokenizer_run

    run = TokenizerRun.objects.create(
        owner=alice, name="chat-tok", vocab_size=300, special_tokens=list(SPECIAL_TOKENS)
    )
    run.corpora.set([corpus])
    train_tokenizer_run(run.pk)
    run.refresh_from_db()
    assert run.status == "succeeded", run.error
    return run


def wait_for(predicate, timeout: float = 30.0, every: float = 0.1):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(every)
    raise AssertionError(f"condition not met within {timeout:g} s")
