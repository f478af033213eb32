"""Scoring: how likely a model finds a text, token by token (the playground's score mode).

For ids x1..xn the model gives each token's conditional log-probability ln p(xi | x<i)
(natural log, temperature 1, as `logprob` in generation). From those:
total_logprob = sum of the scored ones, bits = -total_logprob / ln 2, and bits per byte =
bits / the UTF-8 bytes of the scored tokens: the definition `lmcore.evaluate` uses.

The first token. A model can only condition on what precedes a token, so x1 is scored when
there is a beginning-of-text token to put before it: models trained with document boundaries
(lmcore/documents.py) start every document with `<|endoftext|>`, and for them `bos_id` is
prepended, so every token is scored and the total is the full product p(x1..xn). Models
trained before that never saw such a token (conditioning on its untrained embedding would
give a number that looks meaningful and is not), so for them x1 stays unscored (logprob
None) and the figures cover x2..xn. `bos_id_for` reads which case a checkpoint is. Either
way `evaluate` computes the same figure on the same ids.

Long texts are cut into windows of `context` inputs by `evaluate`'s own `window_starts` and
`window_batches` (each window's first target sees one token of context), so the two agree
on any length; the trade-off is the same slightly pessimistic estimate near window starts.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, NotRequired, TypedDict

import numpy as np
import torch

from lmcore.config import MAX_TOP_LOGPROBS
from lmcore.device import autocast
from lmcore.documents import bos_id_for  # noqa: F401  (re-exported for callers of score)
from lmcore.errors import LmcoreError
from lmcore.evaluate import window_batches, window_starts
from lmcore.model import GPT
from lmcore.textstream import token_texts

WINDOW_LOGITS = 1 << 25  # floats of logits per forward (128 MiB): bounds memory on long texts


class ScoredToken(TypedDict):
    id: int
    bytes: str  # raw bytes, lowercase hex
    text: str  # UTF-8 safe: a cut character shows on the token that completes it
    logprob: float | None  # ln p(token | everything before); None for an unscored first token
    # With top_logprobs k > 0: the k most likely tokens at this position, best first
    # ([{"id", "bytes", "text", "logprob"}]; [] for an unscored first token).
    top: NotRequired[list[dict[str, Any]]]


class ScoreResult(TypedDict):
    tokens: list[ScoredToken]
    total_logprob: float  # sum of the scored tokens' logprobs (nats)
    bits: float  # -total_logprob / ln 2
    bpb: float  # bits per UTF-8 byte of the scored tokens
    scored: int  # tokens scored
    bytes: int  # UTF-8 bytes of the scored tokens


@torch.inference_mode()
def score(
    model: GPT,
    bytes_table: Sequence[bytes],
    ids: Sequence[int],
    bos_id: int | None = None,
    top_logprobs: int = 0,
) -> ScoreResult:
    """Per-token log-probabilities of `ids` and their totals, with the `top_logprobs` most
    likely alternatives at each scored position; see the module docstring."""
    ids = list(ids)
    seq = [bos_id, *ids] if bos_id is not None else ids
    if len(seq) < 2:
        raise LmcoreError(
            "nothing to score: the text needs at least two tokens, since this model has no "
            "beginning-of-text token to condition the first one on"
            if ids
            else "nothing to score: the text is empty"
        )
    if min(ids) < 0 or max(ids) >= len(bytes_table):
        raise LmcoreError(f"ids outside the vocabulary 0..{len(bytes_table) - 1}")
    if not 0 <= top_logprobs <= min(MAX_TOP_LOGPROBS, len(bytes_table)):
        raise LmcoreError(f"top_logprobs must be between 0 and {MAX_TOP_LOGPROBS}")
    target_lp, tops = _target_logprobs(model, seq, top_logprobs)  # per i: seq[i + 1] | seq[:i+1]
    unscored = len(ids) - len(target_lp)  # 1 without a BOS, else 0
    pieces = [bytes_table[i] for i in ids]
    texts = token_texts(pieces)
    tokens: list[ScoredToken] = [
        {"id": t, "bytes": p.hex(), "text": s, "logprob": None if i < unscored else
         target_lp[i - unscored]}
        for i, (t, p, s) in enumerate(zip(ids, pieces, texts, strict=True))
    ]  # fmt: skip
    if top_logprobs:
        for i, token in enumerate(tokens):
            token["top"] = [] if i < unscored else [
                {"id": j, "bytes": bytes_table[j].hex(),
                 "text": bytes_table[j].decode("utf-8", errors="replace"), "logprob": lp}
                for j, lp in tops[i - unscored]
            ]  # fmt: skip
    total = math.fsum(target_lp)
    nbytes = sum(len(p) for p in pieces[unscored:])
    bits = -total / math.log(2)
    return {
        "tokens": tokens, "total_logprob": total, "bits": bits,
        "bpb": bits / nbytes if nbytes else float("nan"), "scored": len(target_lp),
        "bytes": nbytes,
    }  # fmt: skip


def _target_logprobs(
    model: GPT, seq: list[int], top: int = 0
) -> tuple[list[float], list[list[tuple[int, float]]]]:
    """ln p of seq[1:], each given what precedes it inside evaluate's windows, and the `top`
    most likely (id, ln p) at each of those positions."""
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    context = model.config.context
    rows = max(1, WINDOW_LOGITS // (context * model.config.vocab_size))
    windows = window_starts(len(seq) - 1, context, None)
    out: list[float] = []
    tops: list[list[tuple[int, float]]] = []
    try:
        for x, y in window_batches(np.asarray(seq, dtype=np.int64), windows, rows):
            lp, top_lp, top_ids = _logprobs_of(model, x.to(device), y.to(device), device, top)
            out += lp.flatten().tolist()
            if top:
                pairs = zip(top_ids.reshape(-1, top).tolist(),
                            top_lp.reshape(-1, top).tolist(), strict=True)  # fmt: skip
                tops += [list(zip(i, v, strict=True)) for i, v in pairs]
    finally:
        model.train(was_training)
    return out, tops if top else [[] for _ in out]


def _logprobs_of(model: GPT, x: torch.Tensor, y: torch.Tensor, device: torch.device, top: int):
    """ln p(y | x) for a batch of windows (R, T) -> (R, T), and the `top` most likely
    alternatives' ln p and ids, (R, T, top) each (None when top is 0)."""
    with autocast(device):
        logits, _ = model(x)  # (R, T, V) float32
    logprobs = torch.log_softmax(logits, dim=-1)  # (R, T, V)
    target = logprobs.gather(2, y[..., None])[..., 0]  # (R, T)
    if not top:
        return target, None, None
    top_lp, top_ids = logprobs.topk(top, dim=-1)  # (R, T, top) each
    return target, top_lp, top_ids
