"""Read-only views of a trained tokenizer for the inspector page, cached per process.

A tokenizer file never changes once written, so loading it (and listing its vocabulary) once
per web process keeps the "tokenize as you type" box fast.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from lmcore import inspect_tokens
from lmcore.tokenizer import Tokenizer

MAX_ENCODE_CHARS = 20_000
VOCAB_PAGE = 25  # short enough that the page around it stays in view


@lru_cache(maxsize=16)
def _load(path: str) -> tuple[Tokenizer, list[inspect_tokens.VocabEntry]]:
    tokenizer = Tokenizer.load(path)
    return tokenizer, inspect_tokens.vocab_entries(tokenizer)


def load(run: Any) -> Tokenizer:
    return _load(str(run.tokenizer_path))[0]


def vocab_page(run: Any, query: str = "", page: int = 1) -> dict[str, Any]:
    """One page of the vocabulary, optionally only tokens whose text contains `query`."""
    entries = _load(str(run.tokenizer_path))[1]
    if query:
        needle = query.lower()
        entries = [e for e in entries if needle in e["token"].lower() or needle == e["bytes_hex"]]
    pages = max(1, -(-len(entries) // VOCAB_PAGE))
    page = min(max(page, 1), pages)
    start = (page - 1) * VOCAB_PAGE
    return {"page": page, "pages": pages, "count": len(entries),
            "entries": entries[start : start + VOCAB_PAGE]}  # fmt: skip


def encode(run: Any, text: str) -> dict[str, Any]:
    """Tokens of user text (specials stay plain text), with ids, text and raw bytes."""
    tokenizer = load(run)
    ids = tokenizer.encode(text)
    tokens = [_token(tokenizer, i) for i in ids]
    n_bytes = len(text.encode("utf-8"))
    return {"tokens": tokens, "bytes": n_bytes,
            "bytes_per_token": round(n_bytes / len(ids), 3) if ids else 0.0}  # fmt: skip


def trace(run: Any, text: str) -> dict[str, Any]:
    """Every state of `text` from single bytes to final tokens (the merge explorer)."""
    tokenizer = load(run)
    steps = inspect_tokens.trace(tokenizer, text)
    return {
        "steps": [
            {
                "step": s["step"],
                "rank": s["rank"],
                "merged": None if s["merged"] is None else _token(tokenizer, s["merged"]),
                "tokens": [_token(tokenizer, i) for i in s["ids"]],
            }  # fmt: skip
            for s in steps
        ]
    }


def _token(tokenizer: Tokenizer, token_id: int) -> dict[str, Any]:
    raw = tokenizer.token_bytes(token_id)
    return {"id": token_id, "text": raw.decode("utf-8", errors="replace"), "hex": raw.hex()}
