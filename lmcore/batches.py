"""What a training run draws its batches from, evaluates on and samples: one interface,
`Batches`, for text corpora (`TextBatches`, here) and conversations (`ChatBatches`,
lmcore/finetune.py), so the training loop (lmcore/train.py) holds one object.

- `batch(batch_size, seed, shard, device)`: this rank's rows of the global batch, inputs and
  targets (B, T) (target -1: no loss there), and the real tokens among them (padding not
  counted): what tokens/s and tokens seen count.
- `evaluate(model, byte_lengths, batch_size, max_tokens, shard)`: per validation file,
  (nats, tokens, bytes) over this rank's share; a bounded evaluation scores about
  `max_tokens` in all.
- `samples(model, tokenizer, n_tokens)`: (prompt, continuation) pairs shown at evaluations.
- `val_tokens()`: what a whole evaluation scores (to foresee how long the final one takes).
"""

from __future__ import annotations

from typing import Protocol

import numpy as np
import torch

from lmcore.data import EncodedCorpus
from lmcore.evaluate import evaluate
from lmcore.model import GPT
from lmcore.tokenizer import Tokenizer

Scores = dict[str, tuple[float, int, int]]  # per file: nats, tokens, bytes


class Batches(Protocol):
    def batch(
        self, batch_size: int, seed: tuple[int, ...], shard: tuple[int, int], device: torch.device
    ) -> tuple[torch.Tensor, torch.Tensor, int]: ...

    def evaluate(
        self, model: GPT, byte_lengths: np.ndarray, batch_size: int, max_tokens: int | None,
        shard: tuple[int, int],
    ) -> Scores: ...  # fmt: skip

    def samples(self, model: GPT, tokenizer: Tokenizer, n_tokens: int) -> list[tuple[str, str]]: ...

    def val_tokens(self) -> int: ...


def get_batch(
    data: np.ndarray,
    batch_size: int,
    context: int,
    seed: tuple[int, ...],
    device: torch.device,
    shard: tuple[int, int] = (0, 1),
) -> tuple[torch.Tensor, torch.Tensor]:
    """This rank's rows of a global batch: random windows of context + 1 tokens, as inputs and
    next-token targets. The global batch (batch_size x world rows) depends only on `seed`, so
    N processes x batch b see exactly the rows 1 process x batch N*b sees, in the same order.
    """
    rank, world = shard
    rng = np.random.default_rng(seed)
    starts = rng.integers(0, len(data) - context, size=batch_size * world)
    mine = starts[rank * batch_size : (rank + 1) * batch_size]
    rows = np.stack([data[s : s + context + 1] for s in mine]).astype(np.int64)  # (B, T+1)
    batch = torch.from_numpy(rows)
    if device.type == "cuda":
        batch = batch.pin_memory().to(device, non_blocking=True)
    return batch[:, :-1], batch[:, 1:]  # (B, T), (B, T)


class TextBatches:
    """Random windows of an encoded corpus; its validation tails; continuations of fixed
    prompts at temperature 0.8 with a fixed seed (after the BOS token, if documents have one)."""

    def __init__(
        self, corpus: EncodedCorpus, context: int, prompts: list[str], seed: int,
        bos_id: int | None,
    ) -> None:  # fmt: skip
        self.train = corpus.split("train")
        self.val_segments = corpus.val_segments()
        self.context, self.prompts, self.seed, self.bos_id = context, prompts, seed, bos_id

    def batch(
        self, batch_size: int, seed: tuple[int, ...], shard: tuple[int, int], device: torch.device
    ) -> tuple[torch.Tensor, torch.Tensor, int]:
        x, y = get_batch(self.train, batch_size, self.context, seed, device, shard)
        return x, y, x.numel()

    def evaluate(
        self, model: GPT, byte_lengths: np.ndarray, batch_size: int, max_tokens: int | None,
        shard: tuple[int, int],
    ) -> Scores:  # fmt: skip
        """A bounded evaluation shares max_tokens among the corpora by their validation sizes
        (each gets at least one window)."""
        total = self.val_tokens() or 1
        out = {}
        for name, tokens in self.val_segments:
            share = None if max_tokens is None else max(max_tokens * len(tokens) // total,
                                                        self.context)  # fmt: skip
            r = evaluate(model, tokens, byte_lengths, batch_size=batch_size, max_tokens=share,
                         shard=shard)  # fmt: skip
            out[name] = (r.nats, r.tokens, r.bytes)
        return out

    def samples(self, model: GPT, tokenizer: Tokenizer, n_tokens: int) -> list[tuple[str, str]]:
        device = next(model.parameters()).device
        generator = torch.Generator(device).manual_seed(self.seed)
        out = []
        model.eval()
        for prompt in self.prompts:
            ids = tokenizer.encode(prompt)[-(self.context // 2) :]
            ids = [self.bos_id, *ids] if self.bos_id is not None else ids
            if ids:
                idx = torch.tensor([ids], dtype=torch.long, device=device)  # (1, T)
                new = model.generate(idx, n_tokens, 0.8, generator)
                out.append((prompt, tokenizer.decode(new[0, len(ids) :].tolist())))
        model.train()
        return out

    def val_tokens(self) -> int:
        return sum(len(tokens) for _, tokens in self.val_segments)
