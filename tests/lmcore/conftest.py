"""Fixtures shared by the lmcore tests: hermetic, CPU-only, small corpora made on the spot.

This file is shared by several test modules: add fixtures with small edits.
"""

import random
from pathlib import Path

import pytest

# --- tokenizer and data (issue 3) ---------------------------------------------------------
_WORDS = ["the", "cat", "ate", "cheese", "and", "mouse", "perché", "città", "così", "più",
          "naïve", "e\u0301", "日本語", "中文", "😀", "🇮🇹", "don't", "we'll", "2024", "3.14"]  # fmt: skip
_SYLLABLES = ["ka", "lo", "mi", "ré", "tu", "sa", "ne", "po", "gli", "chi", "str", "ò"]


def _word(rng: random.Random) -> str:
    if rng.random() < 0.5:
        return rng.choice(_WORDS)
    return "".join(rng.choice(_SYLLABLES) for _ in range(rng.randint(1, 4)))


def make_corpus_text(n_lines: int = 600, seed: int = 0) -> str:
    """Mixed-script text with \\n and \\r\\n line ends; the same for the same seed."""
    rng = random.Random(seed)
    lines = []
    for _ in range(n_lines):
        line = " ".join(_word(rng) for _ in range(rng.randint(0, 12)))
        lines.append(line + rng.choice(["\n", "\n", "\r\n", "!\n", "\n\n"]))
    return "".join(lines)


@pytest.fixture(scope="session")
def corpus_file(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("corpus") / "corpus.txt"
    path.write_text(make_corpus_text(), encoding="utf-8", newline="")
    return path


@pytest.fixture(scope="session")
def small_tokenizer(corpus_file):
    """A vocab-400 tokenizer trained once per session on `corpus_file` (default specials)."""
    from lmcore.tokenizer import TokenizerConfig, train_tokenizer

    return train_tokenizer([corpus_file], TokenizerConfig(vocab_size=400, min_frequency=2))
