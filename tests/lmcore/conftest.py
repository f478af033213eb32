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


# --- model and training (issue 4) ---------------------------------------------------------
# (one torch thread: tests/conftest.py's `_one_torch_thread`, for the whole suite)
# A short text repeated: a 2-layer model can learn it by heart in a few dozen steps.
VERSE = (
    "Shall I compare thee to a summer's day?\nThou art more lovely and more temperate:\n"
    "Rough winds do shake the darling buds of May,\nAnd summer's lease hath all too short a date.\n"
)


@pytest.fixture(scope="session")
def verse_file(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("verse") / "verse.txt"
    path.write_text(VERSE * 40, encoding="utf-8")
    return path


@pytest.fixture(scope="session")
def verse_corpus(small_tokenizer, verse_file, tmp_path_factory):
    """`verse_file` encoded with `small_tokenizer` (10% held out for validation)."""
    from lmcore.data import encode_corpus

    return encode_corpus(small_tokenizer, [verse_file], tmp_path_factory.mktemp("verse-data"))


def _tiny_gpt_config(vocab_size: int, **overrides):
    """A 2-layer, 32-wide GPT: big enough to learn, small enough for milliseconds per step."""
    from lmcore.model import GPTConfig

    fields = dict(vocab_size=vocab_size, context=32, n_layer=2, n_head=2, d_model=32)
    return GPTConfig(**{**fields, **overrides})


def _tiny_train_config(**overrides):
    from lmcore.train import TrainConfig

    fields = dict(batch_size=4, lr=1e-2, warmup_steps=2, max_steps=8, eval_every=1000,
                  eval_tokens=256, log_every=1, sample_tokens=4, device="cpu")  # fmt: skip
    return TrainConfig(**{**fields, **overrides})


@pytest.fixture
def tiny_gpt_config():
    """Factory: tiny_gpt_config(vocab_size, **GPTConfig overrides)."""
    return _tiny_gpt_config


@pytest.fixture
def tiny_train_config():
    """Factory: tiny_train_config(**TrainConfig overrides); 8 CPU steps by default."""
    return _tiny_train_config


# --- generation and scoring (issue 5) -----------------------------------------------------
@pytest.fixture(scope="session")
def gen_model(small_tokenizer):
    """A 2-layer GPT with random weights over small_tokenizer's vocabulary, context 32.

    Untied, with the output layer scaled up so that distributions are peaked: greedy choices
    are then far from ties, and float noise cannot flip them. Shared: do not modify.
    """
    import torch

    from lmcore.model import GPT, GPTConfig

    config = GPTConfig(vocab_size=small_tokenizer.vocab_size, context=32, n_layer=2, n_head=2,
                       d_model=32, tie_weights=False)  # fmt: skip
    with torch.random.fork_rng():  # seeded weights without touching other tests' RNG
        torch.manual_seed(0)
        model = GPT(config).eval()
    with torch.no_grad():
        model.lm_head.weight.mul_(20.0)
    return model


@pytest.fixture(scope="session")
def gen_checkpoint(gen_model, small_tokenizer, tmp_path_factory):
    """`gen_model` saved as a checkpoint directory with small_tokenizer."""
    from lmcore.checkpoint import save_checkpoint

    directory = tmp_path_factory.mktemp("gen") / "checkpoint"
    return save_checkpoint(directory, gen_model, small_tokenizer)
