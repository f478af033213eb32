"""Pre-launch estimates for a GPT: parameters, memory, FLOPs per token, time, and MFU.

Computed from the config alone (no model is built), so the web UI can show them while a user
edits sizes. Parameters are exact (a test compares them with the real module). Memory and
FLOPs are the usual first-order formulas, good to a few tens of percent: enough to pick a
batch size or to see that `base` will not fit a laptop, not a substitute for measuring.

    >>> estimate_params(GPTConfig(vocab_size=2048, context=128, n_layer=4, n_head=4, d_model=128))
    1048576
"""

from __future__ import annotations

from typing import TypedDict

from lmcore.config import GPTConfig

# Dense bf16 peak of one H200 (the figure MFU is reported against in docs/benchmarks.md).
H200_BF16_PEAK_FLOPS = 989e12


class Estimate(TypedDict):
    params: int
    params_non_embedding: int
    flops_per_token: float  # forward + backward, one training token
    weights_bytes: int
    grads_bytes: int
    optimizer_bytes: int
    activations_bytes: int  # one micro-batch
    total_bytes: int


def layer_params(cfg: GPTConfig) -> int:
    """Weights of one transformer block (query, key/value, output projection, MLP)."""
    d, hs = cfg.d_model, cfg.head_dim
    attn = d * cfg.n_head * hs + d * 2 * cfg.n_kv_head * hs + d * d
    mlp = (3 if cfg.mlp == "swiglu" else 2) * d * cfg.d_hidden
    return attn + mlp


def estimate_params(cfg: GPTConfig) -> int:
    embedding = cfg.vocab_size * cfg.d_model
    head = 0 if cfg.tie_weights else cfg.vocab_size * cfg.d_model
    gains = (2 * cfg.n_layer + 1) * cfg.d_model if cfg.norm_gain else 0  # the norms' weights
    return embedding + head + cfg.n_layer * layer_params(cfg) + gains


def flops_per_token(cfg: GPTConfig, context: int | None = None) -> float:
    """Training FLOPs per token: 6 x (weights used in matmuls) + attention scores.

    The embedding lookup is not a matmul; the output layer is, tied or not. Attention adds
    2 x 2 x T x d per layer forward (scores and weighted sum), x 3 with the backward pass,
    counted over the full T x T square as nanoGPT and PaLM do (causal kernels skip half).
    """
    T = cfg.context if context is None else context
    matmul_weights = cfg.n_layer * layer_params(cfg) + cfg.vocab_size * cfg.d_model
    return 6.0 * matmul_weights + 12.0 * cfg.n_layer * T * cfg.d_model


def activation_bytes(cfg: GPTConfig, batch_size: int, bytes_per_value: int = 4) -> int:
    """Activations kept for the backward pass of one micro-batch.

    Per layer and token, about 16 values of width d plus the MLP's hidden activations
    (2 x d_hidden) survive until backward with a flash-style attention kernel (no T x T
    scores stored); the output layer keeps fp32 logits and their gradient (2 x V x 4 bytes).
    """
    tokens = batch_size * cfg.context
    per_layer = tokens * (16 * cfg.d_model + 2 * cfg.d_hidden) * bytes_per_value
    logits = tokens * cfg.vocab_size * 4 * 2
    return cfg.n_layer * per_layer + logits


def estimate(cfg: GPTConfig, batch_size: int, mixed_precision: bool = False) -> Estimate:
    """Memory of one training process with fp32 weights and AdamW (two fp32 moments)."""
    params = estimate_params(cfg)
    weights = grads = 4 * params
    optimizer = 8 * params
    activations = activation_bytes(cfg, batch_size, 2 if mixed_precision else 4)
    return Estimate(
        params=params,
        params_non_embedding=params - cfg.vocab_size * cfg.d_model,
        flops_per_token=flops_per_token(cfg),
        weights_bytes=weights,
        grads_bytes=grads,
        optimizer_bytes=optimizer,
        activations_bytes=activations,
        total_bytes=weights + grads + optimizer + activations,
    )


def model_flops_utilization(
    cfg: GPTConfig, tokens_per_s: float, peak_flops: float = H200_BF16_PEAK_FLOPS
) -> float:
    """Achieved model FLOP/s as a fraction of peak (pass peak x devices for multi-GPU)."""
    return tokens_per_s * flops_per_token(cfg) / peak_flops
