"""A decoder-only transformer (GPT) in the current style.

Token embedding -> RMSNorm -> n_layer x [RMSNorm -> causal self-attention with rotary positions
-> residual, RMSNorm -> MLP -> residual] -> RMSNorm -> linear to the vocabulary. No biases; the
norms have no learned gain (nanochat's choice: fewer parameters, no measurable loss at these
sizes); queries and keys are RMS-normalised before attention, which keeps high learning rates
stable on tiny models. Attention goes through `F.scaled_dot_product_attention`, so CUDA picks a
flash kernel and CPU a fused one.

GPTConfig's architecture options turn the same code into the blocks of imported models
(lmcore/hf_import.py, lmcore/hf_export.py): Llama's learned norm gains, gated SiLU MLP, no
embedding or query/key norm and opposite rotation; nanochat's norm epsilon and final-logit
soft cap. Their defaults are the block above, so older checkpoints compute what they did.

Inference passes a KV cache (lmcore/kvcache.py: the `Cache` protocol, the single-sequence
`KVCache`, and lmcore/slotcache.py's `SlotCache` for continuous batching): each layer stores
its new keys and values there and attends to everything cached so far.
`logits_to_keep` computes the output layer only where logits are used (prefill: 1 or 0).
"""

from __future__ import annotations

import math

import torch
import torch.nn as nn
import torch.nn.functional as F

from lmcore.config import GPTConfig
from lmcore.kvcache import Cache, KVCache

# oneDNN's matmul, as torch.compile's CPU backend calls it; absent from builds without oneDNN.
_ONEDNN_LINEAR = getattr(torch.ops.mkldnn, "_linear_pointwise", None)


def linear(x: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """x @ weight.T: (..., in) -> (..., out).

    Without autograd on CPU in fp32 it goes through oneDNN rather than F.linear's MKL, whose
    sgemm runs AVX2 code on AMD CPUs: measured on this repository's EPYC VM with SmolLM2's
    weights, 1.7x faster for one row (decoding one stream) and 2.2x for 32 rows. The sums run
    in another order, so logits move by ~1e-5 (docs/benchmarks.md, "Bottega vs transformers").
    """
    if (
        _ONEDNN_LINEAR is not None
        and x.device.type == "cpu"
        and x.dtype == weight.dtype == torch.float32
        and not (torch.is_grad_enabled() and (x.requires_grad or weight.requires_grad))
    ):
        return _ONEDNN_LINEAR(x, weight, None, "none", [], "")
    return F.linear(x, weight)


class Linear(nn.Linear):
    """A bias-free nn.Linear computed by `linear`."""

    def __init__(self, d_in: int, d_out: int) -> None:
        super().__init__(d_in, d_out, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return linear(x, self.weight)


class RMSNorm(nn.Module):
    """x / rms(x), times a learned per-channel gain when `cfg.norm_gain` (Llama); eps None is
    the dtype's machine epsilon (what lmcore always used)."""

    def __init__(self, cfg: GPTConfig, dim: int) -> None:
        super().__init__()
        self.eps = cfg.norm_eps
        self.weight = nn.Parameter(torch.ones(dim)) if cfg.norm_gain else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # CUDA autocast runs rms_norm in fp32; keep x's dtype, so that bf16 keys stay bf16
        # in the KV cache (the worker budgets its slots in bf16).
        return F.rms_norm(x, (x.size(-1),), self.weight, self.eps).type_as(x)


def rotary_tables(cfg: GPTConfig) -> tuple[torch.Tensor, torch.Tensor]:
    """cos, sin of shape (1, context, 1, head_dim / 2) for rotating query/key channel pairs.

    apply_rotary turns each pair by -angle; rope_sign +1 flips sin, turning it by +angle.
    """
    half = cfg.head_dim // 2
    inv_freq = cfg.rope_base ** (-torch.arange(half, dtype=torch.float32) / half)
    angles = torch.outer(torch.arange(cfg.context, dtype=torch.float32), inv_freq)  # (T, hs/2)
    sin = angles.sin() if cfg.rope_sign == -1 else -angles.sin()
    return angles.cos()[None, :, None, :], sin[None, :, None, :]


def apply_rotary(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """Rotate pairs (x1[i], x2[i]) of x (B, T, nh, hs) by position-dependent angles."""
    half = x.size(-1) // 2
    x1, x2 = x[..., :half], x[..., half:]  # (B, T, nh, hs/2) each
    cos, sin = cos.to(x.dtype), sin.to(x.dtype)
    return torch.cat([x1 * cos + x2 * sin, x2 * cos - x1 * sin], dim=-1)  # (B, T, nh, hs)


class CausalSelfAttention(nn.Module):
    def __init__(self, cfg: GPTConfig, layer: int) -> None:
        super().__init__()
        self.layer, self.n_head, self.n_kv_head = layer, cfg.n_head, cfg.n_kv_head
        self.head_dim, self.dropout = cfg.head_dim, cfg.dropout
        self.c_q = Linear(cfg.d_model, cfg.n_head * cfg.head_dim)
        self.c_kv = Linear(cfg.d_model, 2 * cfg.n_kv_head * cfg.head_dim)
        self.c_proj = Linear(cfg.d_model, cfg.d_model)
        self.resid_dropout = nn.Dropout(cfg.dropout)
        self.q_norm = RMSNorm(cfg, cfg.head_dim) if cfg.qk_norm else nn.Identity()
        self.k_norm = RMSNorm(cfg, cfg.head_dim) if cfg.qk_norm else nn.Identity()

    def forward(self, x, cos, sin, kv_cache: Cache | None) -> torch.Tensor:
        B, T, C = x.shape
        q = self.c_q(x).view(B, T, self.n_head, self.head_dim)  # (B, T, nh, hs)
        k, v = self.c_kv(x).view(B, T, 2, self.n_kv_head, self.head_dim).unbind(2)  # (B,T,nkv,hs)
        q, k = self.q_norm(apply_rotary(q, cos, sin)), self.k_norm(apply_rotary(k, cos, sin))
        q, k, v = q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2)  # (B, nh|nkv, T, hs)
        mask, causal = None, True
        if kv_cache is not None:
            mask, causal = kv_cache.attn_mask(q)  # before insert: from the old pos
            k, v = kv_cache.insert(self.layer, k, v)  # (B, nkv, pos+T, hs)
        y = F.scaled_dot_product_attention(
            q,
            k,
            v,
            attn_mask=mask,
            is_causal=causal,
            dropout_p=self.dropout if self.training else 0.0,
            enable_gqa=self.n_kv_head != self.n_head,
        )  # (B, nh, T, hs)
        y = y.transpose(1, 2).contiguous().view(B, T, C)  # (B, T, C)
        return self.resid_dropout(self.c_proj(y))


class MLP(nn.Module):
    """Squared-ReLU MLP (Primer; nanochat): as good as GELU here and cheaper on CPU.
    With cfg.mlp "swiglu", Llama's gated form: c_proj(silu(c_gate x) * c_fc x)."""

    def __init__(self, cfg: GPTConfig) -> None:
        super().__init__()
        self.c_fc = Linear(cfg.d_model, cfg.d_hidden)
        gated = cfg.mlp == "swiglu"
        self.c_gate = Linear(cfg.d_model, cfg.d_hidden) if gated else None
        self.c_proj = Linear(cfg.d_hidden, cfg.d_model)
        self.dropout = nn.Dropout(cfg.dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.c_gate is None:
            h = F.relu(self.c_fc(x)).square()  # (B, T, d_hidden)
        else:
            h = F.silu(self.c_gate(x)) * self.c_fc(x)  # (B, T, d_hidden)
        return self.dropout(self.c_proj(h))


class Block(nn.Module):
    def __init__(self, cfg: GPTConfig, layer: int) -> None:
        super().__init__()
        self.ln_1 = RMSNorm(cfg, cfg.d_model)
        self.attn = CausalSelfAttention(cfg, layer)
        self.ln_2 = RMSNorm(cfg, cfg.d_model)
        self.mlp = MLP(cfg)

    def forward(self, x, cos, sin, kv_cache: Cache | None) -> torch.Tensor:
        x = x + self.attn(self.ln_1(x), cos, sin, kv_cache)
        return x + self.mlp(self.ln_2(x))


class GPT(nn.Module):
    def __init__(self, config: GPTConfig) -> None:
        super().__init__()
        self.config = config
        self.wte = nn.Embedding(config.vocab_size, config.d_model)
        self.ln_emb = RMSNorm(config, config.d_model) if config.embed_norm else nn.Identity()
        self.drop = nn.Dropout(config.dropout)
        self.blocks = nn.ModuleList(Block(config, i) for i in range(config.n_layer))
        self.ln_f = RMSNorm(config, config.d_model)
        self.lm_head = Linear(config.d_model, config.vocab_size)
        if config.tie_weights:
            self.lm_head.weight = self.wte.weight
        cos, sin = rotary_tables(config)
        # Not persistent: derived from the config, so checkpoints hold only learned weights.
        self.register_buffer("cos", cos, persistent=False)
        self.register_buffer("sin", sin, persistent=False)
        self.reset_parameters()

    @torch.no_grad()
    def reset_parameters(self) -> None:
        """GPT-2 init: N(0, 0.02), residual projections scaled by 1/sqrt(2 n_layer) so the
        residual stream's variance does not grow with depth.

        Untied, a fresh model's logits have std 0.02 x sqrt(d_model): nearly uniform. Tied,
        the output layer is the embedding and the residual stream starts as the normalised
        input embedding, so the input token's own logit starts near 0.02 x d_model: harmless
        at tiny's width (2.6; tying measured as good as untying there) but 15 at base's,
        hence untied small and base presets.
        """
        for name, p in self.named_parameters():
            if p.ndim == 1:  # a norm's gain starts at 1
                torch.nn.init.ones_(p)
                continue
            std = 0.02
            if name.endswith("c_proj.weight"):
                std = 0.02 / math.sqrt(2 * self.config.n_layer)
            torch.nn.init.normal_(p, mean=0.0, std=std)

    def num_params(self, non_embedding: bool = False) -> int:
        n = sum(p.numel() for p in self.parameters())  # a tied weight is counted once
        if non_embedding:
            n -= self.wte.weight.numel()
        return n

    def forward(
        self,
        idx: torch.Tensor,
        targets: torch.Tensor | None = None,
        kv_cache: Cache | None = None,
        logits_to_keep: int | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """idx (B, T) token ids -> (logits (B, T, V) float32, mean cross-entropy or None).

        Targets equal to -1 are ignored in the loss. See the module docstring for kv_cache.
        `logits_to_keep=n` computes the output layer for the last n positions only (B, n, V):
        a prefill that samples from its last position needs 1, a chunk that only fills the
        cache 0 (the output layer is a large share of a small model's compute).
        """
        B, T = idx.shape
        if kv_cache is None:
            limit = self.config.context
            if limit < T:
                raise ValueError(f"sequence of {T} tokens exceeds the limit of {limit}")
            cos, sin = self.cos[:, :T], self.sin[:, :T]  # (1, T, 1, hs/2)
        else:
            cos, sin = kv_cache.rotary(self.cos, self.sin, T)  # (1 or B, T, 1, hs/2)
        x = self.drop(self.ln_emb(self.wte(idx)))  # (B, T, C)
        for block in self.blocks:
            x = block(x, cos, sin, kv_cache)
        if logits_to_keep is not None:
            x = x[:, T - logits_to_keep :]  # (B, n, C)
        logits = self.readout(x)  # (B, T or n, V)
        if kv_cache is not None:
            kv_cache.advance(T)
        loss = None
        if targets is not None:
            loss = F.cross_entropy(logits.view(B * T, -1), targets.reshape(B * T), ignore_index=-1)
        return logits, loss

    def readout(self, x: torch.Tensor) -> torch.Tensor:
        """Residual stream (..., C) -> logits (..., V) float32: the final norm and output layer.
        One method so the logit lens (lmcore/anatomy.py) reads any block exactly this way."""
        logits = self.lm_head(self.ln_f(x)).float()
        if self.config.logit_softcap is not None:
            cap = self.config.logit_softcap
            logits = cap * torch.tanh(logits / cap)
        return logits

    @torch.no_grad()
    def generate(
        self,
        idx: torch.Tensor,
        max_new_tokens: int,
        temperature: float = 1.0,
        generator: torch.Generator | None = None,
    ) -> torch.Tensor:
        """A plain sampler (greedy when temperature == 0) for training-time samples; stops at
        the context length. The streaming engine with top-k/top-p lives in lmcore/engine.py."""
        B, T = idx.shape
        max_new_tokens = min(max_new_tokens, self.config.context - T)
        cache = KVCache.for_model(self, batch_size=B)
        logits, _ = self(idx, kv_cache=cache)
        out = [idx]
        for i in range(max_new_tokens):
            last = logits[:, -1, :]  # (B, V)
            if temperature == 0:
                nxt = last.argmax(dim=-1, keepdim=True)  # (B, 1)
            else:
                probs = F.softmax(last / temperature, dim=-1)
                nxt = torch.multinomial(probs, 1, generator=generator)  # (B, 1)
            out.append(nxt)
            if i + 1 < max_new_tokens:
                logits, _ = self(nxt, kv_cache=cache)
        return torch.cat(out, dim=1)  # (B, T + new)
