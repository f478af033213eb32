"""Tiny things the tests share, built once per session: a word list, a tokenizer and random
models small enough for milliseconds per step.

The fixtures in `tests/conftest.py` build them into the session's temporary directory; tests
that change one copy it first (`make_version` in the playground's conftest copies the
checkpoint into a version's own directory). Processes the tests start (`manage.py shell`
scripts in the browser tests) copy the directories the session built rather than build their
own.
"""

from __future__ import annotations

import atexit
import random
import shutil
import tempfile
from pathlib import Path

WORDS = ["the", "mouse", "ate", "cheese", "cat", "città", "perché", "naïve", "日本", "🙂", "and"]


def words_text(lines: int = 300, seed: int = 0) -> str:
    """Lines of 3-12 words from WORDS: the same text for the same seed."""
    rng = random.Random(seed)
    return "\n".join(
        " ".join(rng.choice(WORDS) for _ in range(rng.randint(3, 12))) for _ in range(lines)
    )


def train_tiny_tokenizer(root: Path, vocab_size: int = 300):
    """A tokenizer (default special tokens) trained on `words_text()`, a few KB, under `root`."""
    from lmcore.tokenizer import TokenizerConfig, train_tokenizer

    root.mkdir(parents=True, exist_ok=True)
    corpus = root / "words.txt"
    corpus.write_text(words_text(), encoding="utf-8")
    return train_tokenizer([corpus], TokenizerConfig(vocab_size=vocab_size))


def build_tiny_checkpoint(root: Path, quiet_specials: bool = False, **config: int) -> Path:
    """A 2-layer, 32-wide GPT with random weights (context 64; `config` overrides GPTConfig's
    fields) and a vocab-300 tokenizer with the default (chat among them) special tokens, saved
    under `root`/checkpoint. Random weights cost what trained ones do, and the tests that
    use it check plumbing, not quality.

    With `quiet_specials`, special tokens' embedding (tied: also output) rows are zero, so
    their logit is 0 while the top ordinary token's is positive: a greedy answer never ends
    by itself and runs to max_new_tokens or the end of the context, as tests of those need."""
    import torch

    from lmcore.checkpoint import save_checkpoint
    from lmcore.config import GPTConfig
    from lmcore.model import GPT

    tokenizer = train_tiny_tokenizer(root)
    fields = dict(context=64, n_layer=2, n_head=2, d_model=32) | config
    with torch.random.fork_rng():
        torch.manual_seed(0)
        model = GPT(GPTConfig(vocab_size=tokenizer.vocab_size, **fields)).eval()
    if quiet_specials:
        with torch.no_grad():
            model.wte.weight[list(tokenizer.special_tokens.values())] = 0.0
    return save_checkpoint(root / "checkpoint", model, tokenizer)


_built: dict[bool, Path] = {}


def shared_tiny_checkpoint(tmp_path_factory=None, quiet_specials: bool = False) -> Path:
    """`build_tiny_checkpoint`'s result, built once per process (a test session) however many
    fixtures and helpers ask; under the session's temporary directory when given one."""
    if quiet_specials not in _built:
        name = "quiet-tiny" if quiet_specials else "tiny"
        if tmp_path_factory is not None:
            root = tmp_path_factory.mktemp(name)
        else:
            root = Path(tempfile.mkdtemp(prefix=f"bottega-{name}-"))
            atexit.register(shutil.rmtree, root, True)
        _built[quiet_specials] = build_tiny_checkpoint(root, quiet_specials)
    return _built[quiet_specials]
