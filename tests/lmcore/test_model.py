"""GPT model: shapes, initial loss, config checks, estimates against the real module."""

import math

import pytest
import torch
import torch.nn.functional as F

from lmcore.estimate import estimate, estimate_params, flops_per_token, model_flops_utilization
from lmcore.model import GPT, GPTConfig
from lmcore.presets import PRESETS, configs_from_preset


def test_it_maps_token_ids_to_next_token_logits(tiny_gpt_config):
    torch.manual_seed(0)
    model = GPT(tiny_gpt_config(100))
    idx, targets = torch.randint(0, 100, (2, 3, 16))
    logits, loss = model(idx, targets)
    assert logits.shape == (3, 16, 100) and logits.dtype == torch.float32
    # A fresh model is close to uniform: cross-entropy near ln(vocab).
    assert abs(loss.item() - math.log(100)) < 0.3


def test_a_wide_untied_model_starts_near_uniform(tiny_gpt_config):
    # Tied at this width, the input token's own logit would start near 0.02 x 768 = 15.
    model = GPT(tiny_gpt_config(100, d_model=768, n_head=12, tie_weights=False))
    idx, targets = torch.randint(0, 100, (2, 3, 16))
    assert abs(model(idx, targets)[1].item() - math.log(100)) < 0.3


def test_it_ignores_targets_of_minus_one(tiny_gpt_config):
    model = GPT(tiny_gpt_config(50))
    idx = torch.randint(0, 50, (1, 8))
    targets = idx.clone()
    targets[0, 4:] = -1
    logits, loss = model(idx, targets)
    expected = torch.nn.functional.cross_entropy(logits[0, :4], idx[0, :4])
    assert torch.allclose(loss, expected)


def test_it_is_causal(tiny_gpt_config):
    model = GPT(tiny_gpt_config(50)).eval()
    a = torch.randint(0, 50, (1, 12))
    b = a.clone()
    b[0, 8:] = (b[0, 8:] + 1) % 50  # change only the future of position 7
    assert torch.allclose(model(a)[0][0, :8], model(b)[0][0, :8], atol=1e-6)


def test_it_refuses_sequences_longer_than_the_context(tiny_gpt_config):
    model = GPT(tiny_gpt_config(50, context=8))
    with pytest.raises(ValueError, match="exceeds"):
        model(torch.zeros(1, 9, dtype=torch.long))


@pytest.mark.parametrize(
    "bad",
    [dict(d_model=30, n_head=4), dict(n_head=4, n_kv_head=3), dict(dropout=1.0), dict(n_layer=0)],
)
def test_it_rejects_inconsistent_configs(bad):
    with pytest.raises(ValueError):
        GPTConfig(vocab_size=64, **{"d_model": 32, "n_head": 2, **bad})


def test_weight_tying_shares_one_tensor(tiny_gpt_config):
    tied = GPT(tiny_gpt_config(64))
    untied = GPT(tiny_gpt_config(64, tie_weights=False))
    assert tied.lm_head.weight is tied.wte.weight
    assert untied.num_params() - tied.num_params() == 64 * 32


@pytest.mark.parametrize(
    "overrides",
    [{}, {"tie_weights": False}, {"n_head": 4, "n_kv_head": 2}, {"mlp_ratio": 3.0}],
)
def test_estimated_params_equal_the_real_count(tiny_gpt_config, overrides):
    cfg = tiny_gpt_config(123, **overrides)
    assert estimate_params(cfg) == GPT(cfg).num_params()


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_presets_have_their_advertised_sizes(name):
    model_config, train_config = configs_from_preset(name, PRESETS[name].vocab_size)
    params = estimate_params(model_config)
    expected = {"tiny": 0.64e6, "small": 10.7e6, "base": 124e6}[name]  # as documented
    assert 0.8 * expected < params < 1.25 * expected
    assert train_config.max_steps or train_config.max_seconds


def test_estimates_add_up_and_give_mfu():
    cfg, _ = configs_from_preset("base", 50257)
    est = estimate(cfg, batch_size=16, mixed_precision=True)
    assert est["total_bytes"] == sum(
        est[k] for k in ("weights_bytes", "grads_bytes", "optimizer_bytes", "activations_bytes")
    )
    # nanoGPT's figure for GPT-2 small at context 1024: 6N + 12 L T d ~ 0.87 GFLOP per token.
    assert 0.8e9 < flops_per_token(cfg) < 0.95e9
    assert model_flops_utilization(cfg, tokens_per_s=0.0) == 0.0


def test_inference_matmuls_equal_f_linear_and_training_keeps_its_gradients(tiny_gpt_config):
    from lmcore.model import _ONEDNN_LINEAR, linear

    assert _ONEDNN_LINEAR is not None  # this CPU build has oneDNN: the fast path is tested
    torch.manual_seed(0)
    x, w = torch.randn(3, 5, 32), torch.randn(48, 32, requires_grad=True)
    with torch.no_grad():
        torch.testing.assert_close(linear(x, w), F.linear(x, w), atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(linear(x[:, -1:], w), F.linear(x[:, -1:], w))
    linear(x, w).square().sum().backward()  # with autograd: F.linear, differentiable
    torch.testing.assert_close(w.grad, 2 * (x @ w.T).reshape(-1, 48).T @ x.reshape(-1, 32))
    model = GPT(tiny_gpt_config(64)).eval()
    idx = torch.randint(0, 64, (2, 12))
    with torch.no_grad():
        fast, _ = model(idx)
    with torch.enable_grad():
        slow, _ = model(idx)
    torch.testing.assert_close(fast, slow.detach(), atol=1e-5, rtol=0)
