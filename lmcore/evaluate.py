"""Validation loss and bits per byte of a model on a token array.

Bits per byte (docs/architecture.md, "Measures") = sum of -ln p(token) over the evaluated
tokens / (ln 2 x the UTF-8 bytes those same tokens decode to; the `<|endoftext|>` that starts
each document is predicted and costs nats, but it is no text and adds no bytes, see
`token_byte_lengths`). Bytes are counted from the
tokenizer's bytes table for exactly the tokens scored, so a bounded evaluation (first
`max_tokens` targets) is as exact as a whole-split one, and the figure compares across
tokenizers.

The array is cut into consecutive windows of `context` inputs, each window's targets being
the next tokens; windows overlap by one token so that every token but the first is scored
exactly once. Early positions of a window see little context, so this is a slightly
pessimistic (and cheap) estimate next to a sliding window with stride 1: the trade-off
nanoGPT and most papers make. A bounded evaluation scores whole windows spread evenly over
the array, so periodic evaluations during training sample all of the validation text.
`window_batches` (over `windows_at`) and `target_nats` are the cut and the sum that scoring
(lmcore/score.py) and chat evaluation (lmcore/finetune.py) use too.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from lmcore.device import autocast
from lmcore.documents import VAL_FRACTION, iter_documents, split_file
from lmcore.model import GPT
from lmcore.tokenizer import Tokenizer

TAIL_CHARS = 2_000_000  # of a corpus's validation tail scored by `evaluate_tail`


@dataclass
class EvalResult:
    loss: float  # mean nats per token
    bpb: float  # bits per UTF-8 byte
    tokens: int  # tokens scored
    bytes: int  # UTF-8 bytes those tokens decode to
    nats: float = 0.0  # total -ln p: results on several corpora add up to the overall one

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


def token_byte_lengths(bytes_table: Sequence[bytes], special_ids: Iterable[int] = ()) -> np.ndarray:
    """Length in bytes of every token id, from `Tokenizer.bytes_table()`; special tokens
    (`Tokenizer.special_tokens.values()`) count 0: they mark boundaries, they are not text."""
    lengths = np.fromiter((len(b) for b in bytes_table), dtype=np.int64, count=len(bytes_table))
    lengths[list(special_ids)] = 0
    return lengths


def window_starts(n_targets: int, context: int, max_tokens: int | None) -> list[tuple[int, int]]:
    """(start, length) of the windows scoring targets 1..n_targets of an array.

    Everything: consecutive windows. Bounded: max_tokens // context full windows spread evenly
    over the array (a prefix would score only the start of the text, which can be easier or
    harder than the rest). Example: `window_starts(10, 4, None) == [(0, 4), (4, 4), (8, 2)]`.
    """
    if max_tokens is None or max_tokens >= n_targets:
        full = [(i * context, context) for i in range(n_targets // context)]
        rest = n_targets % context
        return full + ([(n_targets - rest, rest)] if rest else [])
    if max_tokens < context:
        return [(0, max_tokens)]
    count = max_tokens // context
    starts = np.linspace(0, n_targets - context, count).round().astype(int)
    return [(int(s), context) for s in starts]


@torch.no_grad()
def evaluate(
    model: GPT,
    tokens: np.ndarray,
    byte_lengths: np.ndarray,
    *,
    batch_size: int = 32,
    max_tokens: int | None = None,
    context: int | None = None,
    shard: tuple[int, int] = (0, 1),
    on_batch: Callable[[int, int], None] | None = None,
) -> EvalResult:
    """Score `tokens` (1-D ids, a memmap is fine) with `model`; see the module docstring.

    Runs on the model's device, under bf16 autocast on CUDA; the model's train/eval mode is
    restored afterwards. `shard=(rank, world)` scores every world-th window from the rank-th:
    the shards' nats (loss x tokens), tokens and bytes add up to the whole. `on_batch(windows
    done, windows)` after each batch (progress; it may raise to stop).
    """
    windows = window_starts(max(len(tokens) - 1, 0), context or model.config.context, max_tokens)
    windows = windows[shard[0] :: shard[1]]
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    nats, n_tokens, n_bytes, done = 0.0, 0, 0, 0
    try:
        for x, y in window_batches(tokens, windows, batch_size):
            nats += target_nats(model, x, y, device)
            n_tokens += y.numel()
            n_bytes += int(byte_lengths[y.numpy()].sum())
            done += len(y)
            if on_batch is not None:
                on_batch(done, len(windows))
    finally:
        model.train(was_training)
    return EvalResult.from_totals(nats, n_tokens, n_bytes)


def window_batches(
    tokens: np.ndarray, windows: Sequence[tuple[int, int]], batch_size: int
) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """Inputs and next-token targets, (B, T) each on the CPU, of `windows` ((start, length)
    from `window_starts`) in order, at most `batch_size` windows of one length per batch."""
    for length in dict.fromkeys(n for _, n in windows):  # only the last may be shorter
        starts = [s for s, n in windows if n == length]
        for i in range(0, len(starts), batch_size):
            yield windows_at(tokens, starts[i : i + batch_size], length)


def windows_at(
    tokens: np.ndarray, starts: Sequence[int], length: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """The windows of `length` inputs at `starts`, as inputs and next-token targets (B, T)
    each, int64 on the CPU. Example: windows_at(np.arange(9), [0, 4], 3) -> ([[0, 1, 2],
    [4, 5, 6]], [[1, 2, 3], [5, 6, 7]])."""
    rows = np.stack([tokens[s : s + length + 1] for s in starts]).astype(np.int64)  # (B, T+1)
    batch = torch.from_numpy(rows)
    return batch[:, :-1], batch[:, 1:]


def target_nats(model: GPT, x: torch.Tensor, y: torch.Tensor, device: torch.device) -> float:
    """Sum of -ln p(y | x) over a batch (B, T), on `device` under its autocast; a target of
    -1 is none (a chat row's prompt and padding: lmcore/chatdata.py)."""
    x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
    with autocast(device):
        logits, _ = model(x)  # (B, T, V) float32
    return F.cross_entropy(
        logits.flatten(0, 1), y.flatten(), ignore_index=-1, reduction="sum"
    ).item()


def evaluate_tail(
    model: GPT, tokenizer: Tokenizer, path: str | Path, *, bos_id: int | None,
    val_fraction: float = VAL_FRACTION, max_chars: int = TAIL_CHARS,
    on_batch: Callable[[int, int], None] | None = None,
) -> EvalResult:  # fmt: skip
    """Bits per byte of a corpus file's validation tail (its first `max_chars` characters,
    each document after its BOS), the split training holds out: comparable across versions
    and tokenizers, and unseen by a model trained on the file."""
    ids: list[int] = []
    left = max_chars
    for document in iter_documents(split_file(Path(path), val_fraction)[1]):
        text = "".join(document)[:left]
        if not text:
            continue
        ids += ([bos_id] if bos_id is not None else []) + tokenizer.encode(text)
        left -= len(text)
        if left <= 0:
            break
    specials = tokenizer.special_tokens.values()
    return evaluate(model, np.asarray(ids, dtype=np.int64),
                    token_byte_lengths(tokenizer.bytes_table(), specials),
                    on_batch=on_batch)  # fmt: skip
