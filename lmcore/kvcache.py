"""The KV cache protocol between lmcore/model.py and whoever drives it, and the plain cache.

The model asks a cache, in every attention layer, for four things and nothing else:

    cos, sin = cache.rotary(model.cos, model.sin, T)  # rotary rows of the T new positions
    mask, is_causal = cache.attn_mask(q)               # which cached keys each new query sees
    k, v = cache.insert(layer, k, v)                   # store the new keys; all keys so far
    cache.advance(T)                                   # after the last layer

Two caches implement it: `KVCache` below, one position shared by every row (the CLI's plain
sampler, `GPT.generate`), and lmcore/slotcache.py's `SlotCache`, where every row of a batch
sits at its own position (the scheduler's continuous batching).

    cache = KVCache.for_model(model, batch_size=1)             # or max_len=... <= context
    logits, _ = model(prompt_ids, kv_cache=cache)               # prefill: (B, T) -> (B, T, V)
    logits, _ = model(next_id.view(1, 1), kv_cache=cache)       # decode one token: (B, 1, V)

Prefill of many tokens, one-token decode and multi-token chunks on a non-empty cache all give
the logits a full forward over the whole sequence gives (tests/lmcore/test_model_kv_cache.py).
Positions are limited to `config.context`: the engine must crop and re-prefill beyond it.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import torch
from torch import nn


@runtime_checkable
class Cache(Protocol):
    """What lmcore/model.py's attention asks of a KV cache (module docstring)."""

    def rotary(self, cos: torch.Tensor, sin: torch.Tensor, T: int) -> tuple[torch.Tensor, ...]:
        """cos, sin rows (1 or B, T, 1, hs/2) of the T new positions, from the model's tables
        (1, context, 1, hs/2)."""
        ...

    def attn_mask(self, q: torch.Tensor) -> tuple[torch.Tensor | None, bool]:
        """(mask, is_causal) for scaled_dot_product_attention of the new queries q
        (B, nh, T, hs): a mask broadcasting to (B, nh, T, keys), boolean (True = visible) or
        additive in q's dtype (0 or -inf), or None with is_causal."""
        ...

    def insert(self, layer: int, k: torch.Tensor, v: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """Store k, v (B, n_kv_head, T, hs) of `layer`; return the keys and values the new
        queries attend to, (B, n_kv_head, keys, hs) each."""
        ...

    def advance(self, T: int) -> None:
        """The forward is done: T new positions are stored."""
        ...


class KVCache:
    """Keys and values of every layer for positions [0, pos), preallocated to `max_len`.

    Storage per layer is (B, n_kv_head, max_len, head_dim), allocated on the first insert with
    the dtype and device of the keys it receives (bf16 under CUDA autocast, fp32 on CPU).
    """

    def __init__(self, n_layer: int, batch_size: int, max_len: int) -> None:
        self.n_layer, self.batch_size, self.max_len = n_layer, batch_size, max_len
        self.pos = 0
        self.k: list[torch.Tensor] = []
        self.v: list[torch.Tensor] = []

    @classmethod
    def for_model(
        cls, model: nn.Module, batch_size: int = 1, max_len: int | None = None
    ) -> KVCache:
        cfg = model.config
        max_len = cfg.context if max_len is None else max_len
        if not 0 < max_len <= cfg.context:
            raise ValueError(f"cache length {max_len} must be in 1..{cfg.context} (the context)")
        return cls(cfg.n_layer, batch_size, max_len)

    def insert(self, layer: int, k: torch.Tensor, v: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """Store k, v (B, n_kv_head, T, hs) at `pos`; return all keys/values up to pos + T."""
        B, H, T, hs = k.shape
        if not self.k:
            shape = (self.batch_size, H, self.max_len, hs)
            for _ in range(self.n_layer):
                self.k.append(torch.empty(shape, dtype=k.dtype, device=k.device))
                self.v.append(torch.empty(shape, dtype=v.dtype, device=v.device))
        end = self.pos + T
        self.k[layer][:, :, self.pos : end] = k
        self.v[layer][:, :, self.pos : end] = v
        return self.k[layer][:, :, :end], self.v[layer][:, :, :end]  # (B, H, pos+T, hs)

    def attn_mask(self, q: torch.Tensor) -> tuple[torch.Tensor | None, bool]:
        """(mask, is_causal) for T new queries at pos: query i sits at pos + i, sees 0..pos+i."""
        T, device = q.size(2), q.device
        if self.pos == 0:
            return None, True
        if T == 1:  # decoding one token: it sees every cached key
            return None, False
        key_pos = torch.arange(self.pos + T, device=device)
        query_pos = torch.arange(self.pos, self.pos + T, device=device)
        return key_pos[None, :] <= query_pos[:, None], False  # (T, pos+T)

    def rotary(self, cos: torch.Tensor, sin: torch.Tensor, T: int) -> tuple[torch.Tensor, ...]:
        """The rotary tables' rows for T new positions from pos: (1, T, 1, hs/2) each."""
        if self.pos + T > self.max_len:
            raise ValueError(
                f"sequence of {self.pos + T} tokens exceeds the limit of {self.max_len}"
            )
        return cos[:, self.pos : self.pos + T], sin[:, self.pos : self.pos + T]

    def advance(self, n: int) -> None:
        self.pos += n

    def reset(self) -> None:
        self.pos = 0
