"""Held-out cloze items (lmcore/cloze.py): drawn from the validation tail only, the same for
the same corpus and seed, and a model trained on the corpus tells the real continuation from
distractors far better than random weights."""

import pytest

from lmcore.checkpoint import load_checkpoint, save_checkpoint
from lmcore.cloze import ClozeConfig, cloze_task, make_items
from lmcore.documents import split_file
from lmcore.errors import LmcoreError
from tests.lmcore.conftest import VERSE
from tests.lmcore.test_harness import train_on

SMALL = ClozeConfig(items=40, context_chars=40, continuation_chars=24, seed=3)


def test_items_are_deterministic_given_corpus_and_seed(corpus_file):
    items = make_items(corpus_file, SMALL)
    assert items == make_items(corpus_file, SMALL)
    assert items != make_items(corpus_file, ClozeConfig(**{**SMALL.__dict__, "seed": 4}))
    for item in items:
        assert len(item["choices"]) == 4 and len(set(item["choices"])) == 4
        assert 0 <= item["gold"] < 4


def test_items_come_from_the_validation_tail(corpus_file):
    train, _ = split_file(corpus_file, SMALL.val_fraction)
    tail = corpus_file.read_bytes()[train.hi :].decode("utf-8")  # \r\n kept, as in the file
    for item in make_items(corpus_file, SMALL):
        assert item["context"] + item["choices"][item["gold"]] in tail


def test_a_too_short_tail_is_refused(tmp_path):
    path = tmp_path / "short.txt"
    path.write_text("a few words only " * 20, encoding="utf-8")
    with pytest.raises(LmcoreError, match="too short for a cloze task"):
        make_items(path, ClozeConfig())


def test_a_trained_model_beats_random_weights_by_a_wide_margin(small_tokenizer, tmp_path):
    import torch

    from lmcore.data import encode_corpus
    from lmcore.harness import LmcoreLM, load_task, run_task
    from lmcore.model import GPT

    verse_file = tmp_path / "verses.txt"  # a tail of ~7,000 characters: 60 passages
    verse_file.write_text(VERSE * 400, encoding="utf-8")
    corpus = encode_corpus(small_tokenizer, [verse_file], tmp_path / "data")
    trained = load_checkpoint(train_on(corpus, small_tokenizer, tmp_path / "trained"))
    with torch.random.fork_rng():
        torch.manual_seed(1)
        random_model = GPT(trained.model_config).eval()
    save_checkpoint(tmp_path / "random", random_model, small_tokenizer,
                    train_config=trained.train_config)  # fmt: skip
    untrained = load_checkpoint(tmp_path / "random")
    config = ClozeConfig(items=60, context_chars=40, continuation_chars=24, seed=0)
    task = cloze_task(verse_file, config, tmp_path)
    acc = {}
    for name, checkpoint in (("trained", trained), ("random", untrained)):
        acc[name] = run_task(LmcoreLM(checkpoint), load_task(task))["metrics"]["acc"]["value"]
    assert acc["trained"] >= 0.8, acc
    assert acc["trained"] - acc["random"] >= 0.4, acc
