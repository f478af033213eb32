"""The KV cache of continuous batching: many sequences, each in its own slot at its own position.

`SlotCache` implements lmcore/model.py's cache interface (`rotary`, `attn_mask`, `insert`,
`advance`). Before each forward the scheduler `select`s the slots, the position each row
starts at and the number of new tokens T: a decode step is a range of slots with one token
each, a prefill the chunks of a few prompts, padded at the end to the longest. Each row's
keys and values go to its own positions and each row attends only to its own, so rows of
different lengths share one forward (the keys up to the longest row are read, with a mask).
A padded or dummy token's key lands on a position past the row's real ones, which the row's
next real token overwrites before any query can see it. Storage is preallocated on the first
insert, (slots, n_kv_head, context, head_dim) per layer for keys and again for values: the
memory bound (`slot_bytes` a slot).

Example: the small preset (6 layers x 384 wide, context 256) takes 4.5 MiB a slot in fp32.
"""

from __future__ import annotations

import torch

from lmcore.config import GPTConfig


def slot_bytes(config: GPTConfig, element_size: int) -> int:
    """Bytes of one slot's keys and values: 2 x layers x kv heads x head_dim x context."""
    return 2 * config.n_layer * config.n_kv_head * config.head_dim * config.context * element_size


class SlotCache:
    """Keys and values of `slots` sequences, each at its own position: lmcore/model.py's
    cache interface. Before each forward the scheduler `select`s slots (a range: the keys are
    read in place; a list: gathered), the position each starts at and the number of new
    tokens T; storage per layer is (slots, n_kv_head, max_len, head_dim), allocated on the
    first insert."""

    def __init__(self, n_layer: int, slots: int, max_len: int) -> None:
        self.n_layer, self.slots, self.max_len = n_layer, slots, max_len
        self.k: list[torch.Tensor] = []
        self.v: list[torch.Tensor] = []

    def select(self, rows: slice | list[int], pos: list[int], T: int, device: torch.device):
        if max(pos) + T > self.max_len:
            raise ValueError(f"sequence of {max(pos) + T} tokens exceeds {self.max_len}")
        self.rows, self.end = rows, max(pos) + T  # keys [0, end) cover every selected row
        slots = range(rows.start, rows.stop) if isinstance(rows, slice) else rows
        self.index = torch.tensor(list(slots), device=device)[:, None]  # (B, 1)
        start = torch.tensor(pos, device=device)[:, None]  # (B, 1)
        self.positions = start + torch.arange(T, device=device)  # (B, T)
        keys = torch.arange(self.end, device=device)
        self.mask = keys[None, None, None, :] <= self.positions[:, None, :, None]  # (B,1,T,end)

    def rotary(self, cos: torch.Tensor, sin: torch.Tensor, T: int) -> tuple[torch.Tensor, ...]:
        return cos[0, self.positions], sin[0, self.positions]  # (B, T, 1, hs/2) each

    def attn_mask(self, T: int, device: torch.device) -> tuple[torch.Tensor, bool]:
        return self.mask, False  # each row sees its own positions up to its query's

    def insert(self, layer: int, k: torch.Tensor, v: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """Store k, v (B, n_kv_head, T, hs) at each row's positions; return keys/values
        [0, end) of the selected rows (B, n_kv_head, end, hs)."""
        if not self.k:
            shape = (self.slots, k.size(1), self.max_len, k.size(3))
            for _ in range(self.n_layer):
                self.k.append(torch.zeros(shape, dtype=k.dtype, device=k.device))
                self.v.append(torch.zeros(shape, dtype=v.dtype, device=v.device))
        kc, vc = self.k[layer], self.v[layer]  # (slots, H, max_len, hs)
        kc[self.index, :, self.positions] = k.transpose(1, 2)  # (B, T, H, hs) into place
        vc[self.index, :, self.positions] = v.transpose(1, 2)
        rows = self.rows if isinstance(self.rows, slice) else self.index[:, 0]
        return kc[rows, :, : self.end], vc[rows, :, : self.end]  # (B, H, end, hs)

    def advance(self, T: int) -> None:
        """Nothing: positions are the scheduler's (`_Sequence.fed`)."""
