"""Where tokens sit in a model's embedding space: a 2-D map and nearest neighbours.

The map is a PCA of the input embeddings as the model reads them (each row of `wte` through
the model's embedding norm, `ln_emb`, when it has one), onto its two directions of largest variance. It is
computed once per model object and cached; the cache entry is keyed by the weight's storage
and in-place version counter, so a model that trains on in the same process is mapped again.
Each axis's sign is fixed (its largest loading is positive), so the same weights always give
the same picture, in the CLI and in the browser.

Neighbours are by cosine similarity, which ignores the row's length exactly as a norm without a learned gain does.

Example: `embedding_map(model).xy[token_id]  # -> tensor([x, y])`
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from lmcore.model import GPT

NEIGHBOURS = 8  # per token


@dataclass(frozen=True)
class EmbeddingMap:
    xy: torch.Tensor  # (V, 2) float32: every token's coordinates
    explained: tuple[float, float]  # fraction of the total variance along each axis


_cache: weakref.WeakKeyDictionary[GPT, tuple[tuple[int, int], EmbeddingMap]] = (
    weakref.WeakKeyDictionary()
)
_lock = threading.Lock()


def embedding_map(model: GPT) -> EmbeddingMap:
    """The PCA map of `model`'s input embeddings, from the cache when the weights are unchanged."""
    weight = model.wte.weight
    key = (weight.data_ptr(), weight._version)
    with _lock:
        hit = _cache.get(model)
        if hit is not None and hit[0] == key:
            return hit[1]
    result = _pca(model)
    with _lock:
        _cache[model] = (key, result)
    return result


@torch.no_grad()
def _pca(model: GPT) -> EmbeddingMap:
    x = model.ln_emb(model.wte.weight).double()  # (V, C): the rows as block 1 receives them
    centred = x - x.mean(dim=0)
    cov = centred.T @ centred / max(1, x.size(0) - 1)  # (C, C)
    values, vectors = torch.linalg.eigh(cov)  # ascending
    axes = vectors[:, -2:].flip(-1)  # (C, 2), largest variance first
    biggest = axes.abs().argmax(dim=0)  # (2,)
    axes = axes * axes[biggest, torch.arange(2)].sign()  # a fixed sign per axis
    total = values.sum().clamp_min(1e-30)
    explained = (values[-1] / total).item(), (values[-2] / total).item()
    return EmbeddingMap(xy=(centred @ axes).float().cpu(), explained=explained)


@torch.no_grad()
def nearest_neighbours(
    model: GPT, ids: Sequence[int], k: int = NEIGHBOURS
) -> dict[int, list[tuple[int, float]]]:
    """For each distinct id: the k other tokens with the most similar embedding (cosine)."""
    distinct = sorted(set(ids))
    if not distinct:
        return {}
    unit = F.normalize(model.wte.weight.float(), dim=-1)  # (V, C)
    index = torch.tensor(distinct, device=unit.device)
    sims = unit[index] @ unit.T  # (n, V)
    sims[torch.arange(len(distinct)), index] = -torch.inf  # not itself
    top_sims, top_ids = sims.topk(min(k, unit.size(0) - 1), dim=-1)  # (n, k) each
    pairs = zip(top_ids.tolist(), top_sims.double().tolist(), strict=True)
    return {
        token: [(j, round(s, 4)) for j, s in zip(js, ss, strict=True)]
        for token, (js, ss) in zip(distinct, pairs, strict=True)
    }
