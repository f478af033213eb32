"""Loss and bits per byte as docs/architecture.md defines them ("Measures"), bounded evaluation."""

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from lmcore.evaluate import (
    evaluate,
    token_byte_lengths,
    window_batches,
    window_starts,
)
from lmcore.model import GPT


@pytest.fixture
def uniform_model(small_tokenizer, tiny_gpt_config):
    """All weights zero: every logit is 0, so p(token) = 1 / vocab everywhere."""
    model = GPT(tiny_gpt_config(small_tokenizer.vocab_size))
    with torch.no_grad():
        for p in model.parameters():
            p.zero_()
    return model


def test_uniform_model_scores_log2_vocab_over_bytes_per_token(
    uniform_model, small_tokenizer, verse_corpus
):
    val = verse_corpus.split("val")
    specials = small_tokenizer.special_tokens.values()
    lengths = token_byte_lengths(small_tokenizer.bytes_table(), specials)
    assert set(lengths[list(specials)]) == {0}  # boundaries, not text
    result = evaluate(uniform_model, val, lengths, batch_size=3)
    vocab = small_tokenizer.vocab_size
    assert result.tokens == len(val) - 1  # every token but the first is a target once
    # The first token is the <|endoftext|> that starts the held-out part: every byte is scored.
    assert val[0] == small_tokenizer.special_id("<|endoftext|>")
    assert result.bytes == verse_corpus.val_bytes
    assert result.loss == pytest.approx(math.log(vocab), rel=1e-5)
    bytes_per_token = result.bytes / result.tokens
    assert result.bpb == pytest.approx(math.log2(vocab) / bytes_per_token, rel=1e-5)


def test_it_equals_a_direct_computation_window_by_window(tiny_gpt_config):
    torch.manual_seed(0)
    model = GPT(tiny_gpt_config(40, context=8)).eval()
    tokens = np.random.default_rng(0).integers(0, 40, size=29).astype(np.uint16)
    lengths = np.arange(40) % 3 + 1  # token i is (i % 3) + 1 bytes long
    result = evaluate(model, tokens, lengths, batch_size=2)
    ids = torch.from_numpy(tokens.astype(np.int64))
    nats = 0.0
    for start in range(0, 28, 8):  # windows of 8 targets, the last one of 4
        x, y = ids[start : min(start + 8, 28)], ids[start + 1 : min(start + 9, 29)]
        nats += F.cross_entropy(model(x[None])[0][0], y, reduction="sum").item()
    assert result.tokens == 28
    assert result.bytes == int(lengths[tokens[1:]].sum())
    assert result.loss == pytest.approx(nats / 28, rel=1e-5)


def test_bounded_evaluation_spreads_whole_windows_and_counts_their_bytes(tiny_gpt_config):
    model = GPT(tiny_gpt_config(40, context=8))
    tokens = np.arange(100) % 40
    lengths = np.arange(40) + 1
    result = evaluate(model, tokens, lengths, max_tokens=24)
    # 3 windows of 8 targets, starting at 0, 46 and 91 (the last ends at the array's end).
    targets = np.concatenate([tokens[1:9], tokens[47:55], tokens[92:100]])
    assert (result.tokens, result.bytes) == (24, int(lengths[targets].sum()))
    assert model.training  # the caller's mode is restored
    assert window_starts(10, 4, None) == [(0, 4), (4, 4), (8, 2)]
    assert window_starts(99, 8, 24) == [(0, 8), (46, 8), (91, 8)]
    assert window_starts(99, 8, 5) == [(0, 5)]


def test_window_batches_cut_inputs_and_next_token_targets_in_order():
    tokens = np.arange(11) * 10
    batches = list(window_batches(tokens, window_starts(10, 4, None), batch_size=1))
    assert [(x.tolist(), y.tolist()) for x, y in batches] == [
        ([[0, 10, 20, 30]], [[10, 20, 30, 40]]),
        ([[40, 50, 60, 70]], [[50, 60, 70, 80]]),
        ([[80, 90]], [[90, 100]]),
    ]
    (x, y), last = list(window_batches(tokens, window_starts(10, 4, None), batch_size=8))[:2]
    assert x.shape == y.shape == (2, 4) and last[1].tolist() == [[90, 100]]


def test_an_array_with_no_targets_gives_nan(tiny_gpt_config):
    result = evaluate(GPT(tiny_gpt_config(40)), np.array([3]), np.ones(40, dtype=np.int64))
    assert result.tokens == 0 and math.isnan(result.bpb)


def test_it_reports_each_batch_and_stops_when_the_report_raises(tiny_gpt_config):
    model = GPT(tiny_gpt_config(40, context=8)).eval()
    tokens = np.arange(100) % 40  # 99 targets: 13 windows, batches of 4: 4, 8, 12, 13
    seen = []
    evaluate(model, tokens, np.ones(40), batch_size=4, on_batch=lambda *a: seen.append(a))
    assert seen == [(4, 13), (8, 13), (12, 13), (13, 13)]

    def stop(done: int, total: int) -> None:
        if done >= 8:
            raise KeyboardInterrupt  # what a cancel's exception does

    calls = []
    with pytest.raises(KeyboardInterrupt):
        evaluate(model, tokens, np.ones(40), batch_size=4,
                 on_batch=lambda *a: (calls.append(a), stop(*a)))  # fmt: skip
    assert calls == [(4, 13), (8, 13)]
