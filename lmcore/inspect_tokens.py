"""Looking inside a tokenizer: vocabulary listing, merge ranks, merge traces, bytes per token.

These serve the inspector pages and the `tokenizer vocab|trace|stats` commands. They work on
ids and raw bytes (`Tokenizer.bytes_table`), never on HF's byte-level display characters, so
a token holding half of a multi-byte character is shown as hex rather than lost.

Trade-off: `trace` replays BPE in Python (lowest merge rank first, leftmost on ties, as HF
does) and returns every state, so its work and its output grow with the square of the text's
UTF-8 length (up to one step per byte, each listing up to one token per byte): it is for a
word or a sentence, and the text is capped at MAX_TRACE_BYTES. A test checks its last state
equals `Tokenizer.encode`.
"""

from __future__ import annotations

import heapq
from collections.abc import Sequence
from pathlib import Path
from typing import TypedDict

from lmcore.data import count_tokens
from lmcore.errors import LmcoreError
from lmcore.tokenizer import Tokenizer

MAX_TRACE_BYTES = 128  # at most ~8,000 token entries in all the steps together


class VocabEntry(TypedDict):
    id: int
    token: str  # the bytes as UTF-8, U+FFFD where a character is cut
    bytes_hex: str
    rank: int | None  # index of the merge that made it; None for single bytes and specials
    special: bool


class TraceStep(TypedDict):
    step: int
    rank: int | None  # merge applied to reach this state; None for the initial bytes
    pair: list[int] | None  # the (left, right) ids that were merged
    merged: int | None
    ids: list[int]  # the whole text's tokens after this step


class TokenStats(TypedDict):
    bytes: int
    tokens: int
    bytes_per_token: float


def token_text(tokenizer: Tokenizer, token_id: int) -> str:
    """A token's bytes as text; e.g. the first half of "é" shows as "\ufffd"."""
    return tokenizer.token_bytes(token_id).decode("utf-8", errors="replace")


def merge_ranks(tokenizer: Tokenizer) -> dict[int, int]:
    """Merged token id -> rank of the merge that created it."""
    return {merged: rank for rank, (_, _, merged) in enumerate(tokenizer.merges())}


def vocab_entries(
    tokenizer: Tokenizer, offset: int = 0, limit: int | None = None
) -> list[VocabEntry]:
    """Vocabulary rows by id, from `offset`, at most `limit` of them."""
    ranks, specials = merge_ranks(tokenizer), set(tokenizer.special_tokens.values())
    table = tokenizer.bytes_table()
    stop = len(table) if limit is None else min(len(table), offset + limit)
    return [
        VocabEntry(
            id=i,
            token=token_text(tokenizer, i),
            bytes_hex=table[i].hex(),
            rank=ranks.get(i),
            special=i in specials,
        )  # fmt: skip
        for i in range(max(offset, 0), stop)
    ]


def _byte_ids(tokenizer: Tokenizer) -> dict[int, int]:
    specials = set(tokenizer.special_tokens.values())
    table = tokenizer.bytes_table()
    return {t[0]: i for i, t in enumerate(table) if len(t) == 1 and i not in specials}


def _trace_piece(
    ids: list[int], ranks: dict[tuple[int, int], int], merged: list[int]
) -> list[tuple[int, list[int]]]:
    """(rank, state) after each merge in one piece; ranks never decrease along the way."""
    steps = []
    while len(ids) > 1:
        pairs = ((ranks.get(p), i) for i, p in enumerate(zip(ids, ids[1:], strict=False)))
        best = min(((r, i) for r, i in pairs if r is not None), default=None)
        if best is None:
            break
        rank, i = best
        ids = [*ids[:i], merged[rank], *ids[i + 2 :]]
        steps.append((rank, ids))
    return steps


def trace(tokenizer: Tokenizer, text: str) -> list[TraceStep]:
    """States of `text` from single bytes to final tokens, one merge at a time.

    Pieces merge independently, so steps from all pieces are interleaved by rank: the
    sequence reads as BPE applying its merge list in order.
    """
    n_bytes = len(text.encode("utf-8"))
    if n_bytes > MAX_TRACE_BYTES:
        raise LmcoreError(
            f"the merge trace takes at most {MAX_TRACE_BYTES} bytes of text (a word or a "
            f"sentence; a character outside ASCII takes 2-4), not {n_bytes:,}: shorten it"
        )
    merges = tokenizer.merges()
    ranks = {(a, b): r for r, (a, b, _) in enumerate(merges)}
    merged = [m for _, _, m in merges]
    byte_ids = _byte_ids(tokenizer)
    state = [[byte_ids[b] for b in piece] for piece in tokenizer.pre_tokenize(text)]
    per_piece = [
        [(rank, p, k, ids) for k, (rank, ids) in enumerate(_trace_piece(piece, ranks, merged))]
        for p, piece in enumerate(state)
    ]
    steps = [TraceStep(step=0, rank=None, pair=None, merged=None, ids=_flat(state))]
    for n, (rank, p, _, ids) in enumerate(heapq.merge(*per_piece), start=1):
        state[p] = ids
        left, right, new = merges[rank]
        steps.append(TraceStep(step=n, rank=rank, pair=[left, right], merged=new, ids=_flat(state)))
    return steps


def _flat(pieces: list[list[int]]) -> list[int]:
    return [i for piece in pieces for i in piece]


def text_stats(tokenizer: Tokenizer, text: str) -> TokenStats:
    """Bytes per token of one text; e.g. 12 bytes in 4 tokens -> 3.0."""
    return _stats(len(tokenizer.encode(text)), len(text.encode("utf-8")))


def file_stats(tokenizer: Tokenizer, inputs: Sequence[str | Path]) -> TokenStats:
    """Bytes per token of files concatenated, streamed in chunks."""
    return _stats(*count_tokens(tokenizer, inputs))


def _stats(tokens: int, n_bytes: int) -> TokenStats:
    return TokenStats(
        bytes=n_bytes, tokens=tokens, bytes_per_token=round(n_bytes / tokens, 4) if tokens else 0.0
    )
