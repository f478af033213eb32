"""Validation loss and bits per byte of a model on a token array.

Bits per byte (DESIGN §4) = sum of -ln p(token) over the evaluated tokens / (ln 2 x the UTF-8
bytes those same tokens decode to). Bytes are counted from the tokenizer's bytes table for
exactly the tokens scored, so a bounded evaluation (first `max_tokens` targets) is as exact
as a whole-split one, and the figure compares across tokenizers.

The array is cut into consecutive windows of `context` inputs, each window's targets being
the next tokens; windows overlap by one token so that every token but the first is scored
exactly once. Early positions of a window see little context, so this is a slightly
pessimistic (and cheap) estimate next to a sliding window with stride 1: the trade-off
nanoGPT and most papers make.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np
import torch
import torch.nn.functional as F

from lmcore.device import autocast
from lmcore.model import GPT


@dataclass
class EvalResult:
    loss: float  # mean nats per token
    bpb: float  # bits per UTF-8 byte
    tokens: int  # tokens scored
    bytes: int  # UTF-8 bytes those tokens decode to
    nats: float = 0.0  # total -ln p, kept so results from several arrays can be combined

    def to_dict(self) -> dict[str, float | int]:
        return {k: v for k, v in asdict(self).items() if k != "nats"}

    @classmethod
    def from_totals(cls, nats: float, tokens: int, nbytes: int) -> EvalResult:
        loss = nats / tokens if tokens else float("nan")
        bpb = nats / (math.log(2) * nbytes) if nbytes else float("nan")
        return cls(loss=loss, bpb=bpb, tokens=tokens, bytes=nbytes, nats=nats)

    def __add__(self, other: EvalResult) -> EvalResult:
        return EvalResult.from_totals(
            self.nats + other.nats, self.tokens + other.tokens, self.bytes + other.bytes
        )


def token_byte_lengths(bytes_table: Sequence[bytes]) -> np.ndarray:
    """Length in bytes of every token id, from `Tokenizer.bytes_table()`."""
    return np.fromiter((len(b) for b in bytes_table), dtype=np.int64, count=len(bytes_table))


@torch.no_grad()
def evaluate(
    model: GPT,
    tokens: np.ndarray,
    byte_lengths: np.ndarray,
    *,
    batch_size: int = 32,
    max_tokens: int | None = None,
    context: int | None = None,
) -> EvalResult:
    """Score `tokens` (1-D ids, a memmap is fine) with `model`; see the module docstring.

    Runs on the model's device, under bf16 autocast on CUDA; the model's train/eval mode is
    restored afterwards.
    """
    context = context or model.config.context
    n_targets = max(len(tokens) - 1, 0)
    if max_tokens is not None:
        n_targets = min(n_targets, max_tokens)
    if n_targets == 0:
        return EvalResult.from_totals(0.0, 0, 0)
    device = next(model.parameters()).device
    ids = torch.from_numpy(np.asarray(tokens[: n_targets + 1], dtype=np.int64))  # (N+1,)
    n_full = n_targets // context
    was_training = model.training
    model.eval()
    nats = 0.0
    try:
        for start in range(0, n_full, batch_size):
            rows = min(batch_size, n_full - start)
            lo, hi = start * context, (start + rows) * context
            x = ids[lo:hi].view(rows, context)  # (B, T)
            y = ids[lo + 1 : hi + 1].view(rows, context)  # (B, T)
            nats += _nats(model, x, y, device)
        rest = n_targets - n_full * context
        if rest:
            lo = n_full * context
            nats += _nats(
                model, ids[lo : lo + rest][None], ids[lo + 1 : lo + rest + 1][None], device
            )
    finally:
        model.train(was_training)
    targets = np.asarray(tokens[1 : n_targets + 1], dtype=np.int64)
    nbytes = int(byte_lengths[targets].sum())
    return EvalResult.from_totals(nats, n_targets, nbytes)


def _nats(model: GPT, x: torch.Tensor, y: torch.Tensor, device: torch.device) -> float:
    """Sum of -ln p(y | x) over a batch (B, T)."""
    x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
    with autocast(device):
        logits, _ = model(x)  # (B, T, V) float32
    return F.cross_entropy(logits.flatten(0, 1), y.flatten(), reduction="sum").item()
