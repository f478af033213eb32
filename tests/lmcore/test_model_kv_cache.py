"""The KV-cache interface lmcore/engine.py relies on: cached forwards equal full forwards."""

import pytest
import torch

from lmcore.model import GPT, KVCache

ATOL = 1e-5


@pytest.fixture(params=[{}, {"n_head": 4, "n_kv_head": 2}], ids=["mha", "gqa"])
def model(request, tiny_gpt_config):
    torch.manual_seed(0)
    return GPT(tiny_gpt_config(64, **request.param)).eval()


def test_prefill_then_one_token_decode_equals_a_full_forward(model):
    idx = torch.randint(0, 64, (2, 20))
    full, _ = model(idx)  # (B, T, V)
    cache = KVCache.for_model(model, batch_size=2)
    prefill, _ = model(idx[:, :12], kv_cache=cache)
    assert cache.pos == 12
    torch.testing.assert_close(prefill, full[:, :12], atol=ATOL, rtol=0)
    for t in range(12, 20):
        step, _ = model(idx[:, t : t + 1], kv_cache=cache)  # (B, 1, V)
        torch.testing.assert_close(step[:, 0], full[:, t], atol=ATOL, rtol=0)
    assert cache.pos == 20


def test_chunks_on_a_non_empty_cache_equal_a_full_forward(model):
    idx = torch.randint(0, 64, (1, 30))
    full, _ = model(idx)
    cache = KVCache.for_model(model)
    pieces = [model(idx[:, a:b], kv_cache=cache)[0] for a, b in [(0, 5), (5, 6), (6, 19), (19, 30)]]
    torch.testing.assert_close(torch.cat(pieces, dim=1), full, atol=ATOL, rtol=0)


def test_the_cache_is_bounded_by_its_length_and_the_context(model):
    with pytest.raises(ValueError):
        KVCache.for_model(model, max_len=model.config.context + 1)
    cache = KVCache.for_model(model, max_len=8)
    model(torch.zeros(1, 8, dtype=torch.long), kv_cache=cache)
    with pytest.raises(ValueError, match="exceeds"):
        model(torch.zeros(1, 1, dtype=torch.long), kv_cache=cache)
    cache.reset()
    assert cache.pos == 0


def test_greedy_generation_equals_naive_recomputation(model):
    prompt = torch.randint(0, 64, (1, 5))
    fast = model.generate(prompt, max_new_tokens=10, temperature=0)
    naive = prompt
    for _ in range(10):
        logits, _ = model(naive)  # the whole sequence again, no cache
        naive = torch.cat([naive, logits[:, -1].argmax(-1, keepdim=True)], dim=1)
    assert torch.equal(fast, naive)


def test_logits_to_keep_computes_only_the_last_positions(model):
    idx = torch.randint(0, 64, (2, 12))
    full, _ = model(idx)
    last, _ = model(idx, logits_to_keep=3)
    assert last.shape == (2, 3, 64)
    torch.testing.assert_close(last, full[:, -3:], atol=ATOL, rtol=0)
    cache = KVCache.for_model(model, batch_size=2)
    none, _ = model(idx[:, :8], kv_cache=cache, logits_to_keep=0)  # fills the cache only
    assert none.shape == (2, 0, 64) and cache.pos == 8
    step, _ = model(idx[:, 8:], kv_cache=cache, logits_to_keep=1)
    torch.testing.assert_close(step[:, 0], full[:, -1], atol=ATOL, rtol=0)
