"""Model anatomy: the path from a prompt's tokens to the next-token distribution, recorded
from one ordinary forward pass.

`record(model, ids)` runs the model's own `forward` inside a `Recorder`, which leaves the code
path alone: forward hooks on the blocks (which return nothing, so change nothing) keep the
residual stream (the input to block 1, then every block's output), and a `TorchFunctionMode`
sees each call of `F.scaled_dot_product_attention` and keeps its query, key, value, mask and
output, attributed to the block that is running. The queries and keys are therefore those
attention really used, after rotary positions and the q/k norm, whatever the model's
options; `attention_weights` recomputes softmax(q·kᵀ·scale + mask) from them, and a test
checks that the weights times the values give the very output SDPA returned. The trade-off:
one (heads × T × T) matrix per layer recomputed in float32 (the fused kernel never forms it),
a few MB at the sizes Bottega trains. Hooks fire only on the recording thread: a worker's
other threads may run the same model at the same time.

From the recording (`anatomy`):
- tokens with their loss, −ln p(token | the tokens before it), as score mode gives it;
- logit lens: each residual stream through the model's own `readout` (final norm and output
  layer): the top-5 next tokens and the rank of the actual next one; its last row is the
  model's output distribution;
- head summary: per head, the mean attention to the previous token, to the first token, to
  earlier copies of the current token (duplicate) and to the token just after an earlier copy
  (induction; Olsson et al., 2022);
- the embedding map and nearest neighbours (lmcore/embedding_map.py);
- `focus` at one position: every head's attention row, the full final logits (for the page's
  softmax panel) and the token's embedding as block 1 receives it.

Size: per-position data is a few top-5s; what grows as T² (attention) goes out for one
position at a time, so a 256-token prompt stays well under 1 MB (docs/benchmarks.md).
"""

from __future__ import annotations

import math
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any, TypedDict

import torch
import torch.nn.functional as F
from torch.overrides import TorchFunctionMode

from lmcore.embedding_map import embedding_map, nearest_neighbours
from lmcore.errors import LmcoreError
from lmcore.model import GPT
from lmcore.tokenizer import Tokenizer

MAX_TEXT_CHARS = 20_000  # refused before tokenizing; the context bounds the tokens anyway
LENS_TOP = 5
SOFTMAX_TOP = 20  # the focus names this many highest-logit tokens (the page's softmax table)
MAP_POINTS = 4096  # background points of the embedding map (a spread sample of a bigger vocab)
ROLE_THRESHOLD = 0.4  # mean attention a head must give a pattern to be labelled with it
ROLES = ("previous", "first", "duplicate", "induction")
DIGITS = 4  # decimals of every float sent
_SDPA_ARGS = ("query", "key", "value", "attn_mask", "dropout_p", "is_causal", "scale")


@dataclass
class AttentionCall:
    """One scaled_dot_product_attention call as the model made it (batch row 0 is used)."""

    query: torch.Tensor  # (B, H, T, hs)
    key: torch.Tensor  # (B, H_kv, S, hs)
    value: torch.Tensor  # (B, H_kv, S, hs)
    output: torch.Tensor  # (B, H, T, hs)
    attn_mask: torch.Tensor | None
    is_causal: bool
    scale: float | None


@dataclass
class Recording:
    ids: list[int]
    logits: torch.Tensor  # (1, T, V) float32: the model's own output
    residuals: list[torch.Tensor]  # n_layer + 1 of (1, T, C): block 1's input, each output
    attention: list[AttentionCall]  # one per block


class Recorder(TorchFunctionMode):
    """`with Recorder(model) as rec: model(idx)` fills rec.residuals and rec.calls."""

    def __init__(self, model: GPT) -> None:
        super().__init__()
        self.model, self.thread = model, threading.get_ident()
        self.layer: int | None = None
        self.residuals: list[torch.Tensor] = []
        self.calls: dict[int, AttentionCall] = {}
        self._handles: list[Any] = []

    def __enter__(self) -> Recorder:
        for i, block in enumerate(self.model.blocks):
            self._handles.append(block.register_forward_pre_hook(partial(self._enter, i)))
            self._handles.append(block.register_forward_hook(partial(self._leave, i)))
        return super().__enter__()

    def __exit__(self, *exc_info: Any) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles.clear()
        super().__exit__(*exc_info)

    def _enter(self, layer: int, module: Any, args: tuple) -> None:
        if threading.get_ident() == self.thread:
            self.layer = layer
            if layer == 0:
                self.residuals.append(args[0])

    def _leave(self, layer: int, module: Any, args: tuple, output: torch.Tensor) -> None:
        if threading.get_ident() == self.thread:
            self.layer = None
            self.residuals.append(output)

    def __torch_function__(self, func, types, args=(), kwargs=None):  # noqa: ANN001
        kwargs = kwargs or {}
        out = func(*args, **kwargs)
        if func is F.scaled_dot_product_attention and self.layer is not None:
            if self.layer in self.calls:
                raise LmcoreError(f"block {self.layer + 1} calls attention twice; cannot record")
            a = {**dict(zip(_SDPA_ARGS, args, strict=False)), **kwargs}
            self.calls[self.layer] = AttentionCall(
                a["query"], a["key"], a["value"], out, a.get("attn_mask"),
                bool(a.get("is_causal", False)), a.get("scale"),
            )  # fmt: skip
        return out


@torch.inference_mode()
def record(model: GPT, ids: Sequence[int]) -> Recording:
    """One forward pass over `ids` (at most the context) with everything kept."""
    ids = list(ids)
    if not 0 < len(ids) <= model.config.context:
        raise LmcoreError(
            f"the prompt has {len(ids)} tokens; this model reads 1 to {model.config.context}"
        )
    was_training = model.training
    model.eval()
    idx = torch.tensor([ids], dtype=torch.long, device=next(model.parameters()).device)
    try:
        with Recorder(model) as rec:
            logits, _ = model(idx)  # (1, T, V)
    finally:
        model.train(was_training)
    n = model.config.n_layer
    if sorted(rec.calls) != list(range(n)) or len(rec.residuals) != n + 1:
        raise LmcoreError("the model's blocks did not each call attention once; cannot record")
    return Recording(ids, logits, rec.residuals, [rec.calls[i] for i in range(n)])


def attention_weights(call: AttentionCall, rows: Sequence[int] | None = None) -> torch.Tensor:
    """softmax(q·kᵀ·scale + mask) for batch row 0: (heads, queries, keys) in float32.

    `rows` picks query positions (all by default). Grouped-query keys are repeated per head
    as SDPA's enable_gqa does; `is_causal` masks as SDPA does (key j visible to query i when
    j <= i).
    """
    q, k = call.query[0].float(), call.key[0].float()  # (H, T, hs), (H_kv, S, hs)
    if k.size(0) != q.size(0):
        k = k.repeat_interleave(q.size(0) // k.size(0), dim=0)  # (H, S, hs)
    T, S = q.size(1), k.size(1)
    pos = torch.arange(T, device=q.device) if rows is None else torch.tensor(rows, device=q.device)
    scale = call.scale if call.scale is not None else 1.0 / math.sqrt(q.size(-1))
    scores = q[:, pos] @ k.transpose(1, 2) * scale  # (H, R, S)
    if call.is_causal:
        visible = torch.arange(S, device=q.device)[None, :] <= pos[:, None]  # (R, S)
        scores = scores.masked_fill(~visible, -math.inf)
    if call.attn_mask is not None:
        mask = call.attn_mask
        while mask.dim() > 3:
            mask = mask[0]
        mask = mask.expand(q.size(0), T, S)[:, pos]  # (H, R, S)
        scores = scores.masked_fill(~mask, -math.inf) if mask.dtype == torch.bool else scores + mask
    return torch.softmax(scores, dim=-1)


class TokenInfo(TypedDict):
    id: int
    text: str  # the token's own bytes as UTF-8, U+FFFD where a character is cut
    bytes: str  # lowercase hex
    special: bool
    loss: float | None  # −ln p(token | tokens before), nats; None for the unscored first


class LensAt(TypedDict):
    top: list[list[int]]  # per layer: the LENS_TOP most likely next ids
    p: list[list[float]]  # their probabilities
    next_rank: list[int] | None  # per layer: rank of the actual next token (1 = top); None last
    next_p: list[float] | None


class Focus(TypedDict):
    position: int
    next_id: int | None
    attention: list[list[list[float]]]  # [layer][head][key 0..position]
    logits: list[float]  # the final logits at position, every vocabulary id
    embedding: list[float]  # the token's embedding as block 1 receives it (normed)
    vocab: dict[str, str]  # id -> text of the SOFTMAX_TOP highest logits


class AnatomyResult(TypedDict):
    model: dict[str, int]
    tokens: list[TokenInfo]
    layers: list[str]  # names of the lens rows: "embedding", "block 1", ...
    lens: list[LensAt]  # per position
    heads: dict[str, Any]  # ROLES -> [layer][head] means (None: no such position); "roles"
    embeddings: dict[str, Any]  # explained, map_ids, map_xy, tokens_xy, neighbours
    vocab: dict[str, str]  # id -> text for every id the result mentions
    loss: dict[str, float | int | None]  # mean (nats) and scored
    focus: Focus


def anatomy(
    model: GPT, bytes_table: Sequence[bytes], ids: Sequence[int], *,
    bos_id: int | None = None, position: int | None = None, specials: Sequence[int] = (),
) -> AnatomyResult:  # fmt: skip
    """Everything the anatomy page shows for `ids`, with the focus at `position` (the last by
    default). `bos_id`, when the model was trained with one, is prepended as position 0."""
    seq = [bos_id, *ids] if bos_id is not None else list(ids)
    rec = record(model, seq)
    specials = set(specials) | ({bos_id} if bos_id is not None else set())
    tokens = _tokens(rec, bytes_table, specials)
    lens = logit_lens(model, rec)
    emb = _embeddings(model, seq)
    scored = [t["loss"] for t in tokens if t["loss"] is not None]
    mentioned = set(seq) | {i for at in lens for row in at["top"] for i in row}
    mentioned |= {j for row in emb["neighbours"].values() for j, _ in row}
    cfg = model.config
    return {
        "model": {"n_layer": cfg.n_layer, "n_head": cfg.n_head, "n_kv_head": cfg.n_kv_head,
                  "d_model": cfg.d_model, "vocab_size": cfg.vocab_size, "context": cfg.context},
        "tokens": tokens,
        "layers": ["embedding"] + [f"block {i + 1}" for i in range(cfg.n_layer)],
        "lens": lens,
        "heads": head_summary(rec),
        "embeddings": emb,
        "vocab": {str(i): _text(bytes_table[i]) for i in sorted(mentioned)},
        "loss": {"mean": _r(math.fsum(scored) / len(scored)) if scored else None,
                 "scored": len(scored)},
        "focus": focus(rec, len(seq) - 1 if position is None else position, bytes_table),
    }  # fmt: skip


def prompt_ids(tokenizer: Tokenizer, text: str) -> list[int]:
    """The ids anatomy reads for user text (never special tokens), with the size checks."""
    if len(text) > MAX_TEXT_CHARS:
        raise LmcoreError(f"text of {len(text):,} characters is over the {MAX_TEXT_CHARS:,} limit")
    ids = tokenizer.encode(text)
    if not ids:
        raise LmcoreError("nothing to look at: the text is empty")
    return ids


def anatomy_of_text(
    model: GPT, tokenizer: Tokenizer, text: str, *, bos_id: int | None = None,
    position: int | None = None, bytes_table: Sequence[bytes] | None = None,
) -> AnatomyResult:  # fmt: skip
    """`anatomy` of user text: what `python -m lmcore anatomy` and the web page both run."""
    return anatomy(
        model, bytes_table or tokenizer.bytes_table(), prompt_ids(tokenizer, text),
        bos_id=bos_id, position=position, specials=list(tokenizer.special_tokens.values()),
    )  # fmt: skip


def focus_of_text(
    model: GPT, tokenizer: Tokenizer, text: str, position: int, *, bos_id: int | None = None,
    bytes_table: Sequence[bytes] | None = None,
) -> Focus:  # fmt: skip
    """Only the focus at `position` (the page fetches it when the selection changes). The
    forward pass stops at `position`: being causal, nothing after it changes what it shows."""
    ids = prompt_ids(tokenizer, text)
    seq = [bos_id, *ids] if bos_id is not None else ids
    _check_position(position, len(seq))
    result = focus(record(model, seq[: position + 1]), position, bytes_table or
                   tokenizer.bytes_table())  # fmt: skip
    result["next_id"] = seq[position + 1] if position + 1 < len(seq) else None
    return result


def focus(rec: Recording, position: int, bytes_table: Sequence[bytes]) -> Focus:
    """What the page shows for one selected position."""
    T = len(rec.ids)
    _check_position(position, T)
    rows = [attention_weights(c, [position])[:, 0, : position + 1] for c in rec.attention]
    logits = rec.logits[0, position]
    top = logits.topk(min(SOFTMAX_TOP, logits.numel())).indices.tolist()
    return {
        "position": position,
        "next_id": rec.ids[position + 1] if position + 1 < T else None,
        "attention": _r(torch.stack(rows)),  # (L, H, position + 1)
        "logits": _r(rec.logits[0, position]),
        "embedding": _r(rec.residuals[0][0, position]),
        "vocab": {str(i): _text(bytes_table[i]) for i in sorted(top)},
    }


def _check_position(position: int, length: int) -> None:
    if not 0 <= position < length:
        raise LmcoreError(f"position {position} is outside the prompt's 0..{length - 1}")


@torch.inference_mode()
def logit_lens(model: GPT, rec: Recording) -> list[LensAt]:
    """Per position, per residual stream: the model's readout's top-5 and the next token's rank."""
    T = len(rec.ids)
    nxt = torch.tensor(rec.ids[1:], device=rec.logits.device)  # (T-1,)
    tops, probs, ranks, next_ps = [], [], [], []
    for h in rec.residuals:
        lp = torch.log_softmax(model.readout(h)[0], dim=-1)  # (T, V)
        top_lp, top_ids = lp.topk(LENS_TOP, dim=-1)  # (T, K) each
        tops.append(top_ids)
        probs.append(top_lp.exp())
        next_lp = lp[:-1].gather(1, nxt[:, None])  # (T-1, 1)
        ranks.append((lp[:-1] > next_lp).sum(dim=-1) + 1)  # (T-1,)
        next_ps.append(next_lp[:, 0].exp())
    top, p = torch.stack(tops, 1).tolist(), _r(torch.stack(probs, 1))  # (T, L+1, K)
    rank, next_p = torch.stack(ranks, 1).tolist(), _r(torch.stack(next_ps, 1))  # (T-1, L+1)
    return [
        {"top": top[i], "p": p[i], "next_rank": rank[i] if i < T - 1 else None,
         "next_p": next_p[i] if i < T - 1 else None}
        for i in range(T)
    ]  # fmt: skip


@torch.inference_mode()
def head_summary(rec: Recording) -> dict[str, Any]:
    """Mean attention per head to each pattern of ROLES, over the positions where it exists."""
    ids = torch.tensor(rec.ids)
    T = len(rec.ids)
    i = torch.arange(T)
    before = i[None, :] < i[:, None]  # (T, T): key j strictly before query i
    copies = (ids[None, :] == ids[:, None]) & before  # earlier copies of the query's token
    after_copy = torch.zeros_like(copies)
    after_copy[:, 1:] = copies[:, :-1]  # key j + 1 where j is an earlier copy ...
    after_copy &= before  # ... and j + 1 is itself before the query
    masks = {"previous": i[None, :] == i[:, None] - 1, "first": (i[None, :] == 0) & before,
             "duplicate": copies, "induction": after_copy}  # fmt: skip
    scores: dict[str, list] = {name: [] for name in ROLES}
    for call in rec.attention:
        w = attention_weights(call).cpu()  # (H, T, T)
        for name, mask in masks.items():
            rows = mask.any(dim=-1)  # queries where the pattern exists
            mass = (w * mask).sum(dim=-1)[:, rows]  # (H, rows)
            scores[name].append(mass.mean(dim=-1) if rows.any() else None)
    out: dict[str, Any] = {
        name: None if rows[0] is None else _r(torch.stack(rows)) for name, rows in scores.items()
    }
    out["roles"] = [
        [_role({name: out[name][layer][head] for name in ROLES if out[name] is not None})
         for head in range(rec.attention[0].query.size(1))]
        for layer in range(len(rec.attention))
    ]  # fmt: skip
    return out


def _role(scores: dict[str, float]) -> str | None:
    best = max(scores, key=scores.__getitem__, default=None)
    return best if best is not None and scores[best] >= ROLE_THRESHOLD else None


def _tokens(rec: Recording, bytes_table: Sequence[bytes], specials: set[int]) -> list[TokenInfo]:
    lp = torch.log_softmax(rec.logits[0, :-1], dim=-1)  # (T-1, V)
    nxt = torch.tensor(rec.ids[1:], device=lp.device)
    losses = [None, *_r(-lp.gather(1, nxt[:, None])[:, 0])]
    return [
        {"id": t, "text": _text(bytes_table[t]), "bytes": bytes_table[t].hex(),
         "special": t in specials, "loss": loss}
        for t, loss in zip(rec.ids, losses, strict=True)
    ]  # fmt: skip


def _embeddings(model: GPT, seq: list[int]) -> dict[str, Any]:
    emap = embedding_map(model)
    V = emap.xy.size(0)
    map_ids = list(range(0, V, max(1, math.ceil(V / MAP_POINTS))))
    return {
        "explained": [_r(v) for v in emap.explained],
        "map_ids": map_ids,
        "map_xy": _r(emap.xy[map_ids]),
        "tokens_xy": _r(emap.xy[seq]),
        "neighbours": {str(k): v for k, v in nearest_neighbours(model, seq).items()},
    }


def _text(piece: bytes) -> str:
    return piece.decode("utf-8", errors="replace")


def _r(value: Any) -> Any:
    """Floats rounded to DIGITS decimals (tensors become nested lists): short JSON, and the
    numbers the CLI prints are the numbers the page shows."""
    if isinstance(value, torch.Tensor):
        return torch.round(value.detach().double().cpu(), decimals=DIGITS).tolist()
    return round(value, DIGITS)
