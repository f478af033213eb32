"""Byte-level BPE tokenizers to and from GGUF metadata (`tokenizer.ggml.*`).

A GGUF file carries no `tokenizer.json`: it lists the tokens (in GPT-2's byte-to-character
spelling), their types, the merges and the special ids, and names the pre-tokenizer in
`tokenizer.ggml.pre`. `tokenizer_json` rebuilds the `tokenizers` file that lmcore's Tokenizer
loads; `gguf_metadata` writes one back out. Only `tokenizer.ggml.model == "gpt2"` (byte-level
BPE) is supported; SentencePiece ("llama") and the others are refused with the reason.

The pre-tokenizer is the part a GGUF only names. The table below follows llama.cpp
(src/llama-vocab.cpp), the format's reference: each name is the split regexes it applies in
turn, and whether whole pieces found in the vocabulary skip the merges (`ignore_merges`,
llama.cpp sets it for the Llama 3 names). Unknown names are refused rather than guessed, since
a wrong split encodes every text differently from the model's training. Control tokens
(type 3) become special tokens, which user text never produces (lmcore's rule, as for
`transformers` imports); user-defined ones (type 4, which llama.cpp matches whole in text)
stay ordinary vocabulary, so BPE spells them from text only as its merges do. Trade-off:
`transformers`' own GGUF loader splits "smollm" with GPT-2's regex alone; that agrees with
llama.cpp on ASCII text, but not on other digits ("²", "٣"), which llama.cpp (and SmolLM's own
tokenizer.json, `Digits(individual_digits=True)`) cut one by one. We follow llama.cpp.

Example: `tokenizer_json(fields)` with `fields = {"tokenizer.ggml.model": "gpt2", ...}`
"""

from __future__ import annotations

import json
from typing import Any

from lmcore.errors import LmcoreError
from lmcore.tokenizer import SPLIT_PATTERN, byte_to_char

GPT2_SPLIT = r"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"
DIGITS = r"\p{N}"
# name -> (regexes applied before GPT-2's, GPT-2's regex too, ignore_merges)
_GPT2, _DIGITS = ((), True, False), ((DIGITS,), True, False)
_LLAMA3, _LLAMA3_MERGED = ((SPLIT_PATTERN,), False, True), ((SPLIT_PATTERN,), False, False)
PRE_TOKENIZERS: dict[str, tuple[tuple[str, ...], bool, bool]] = {
    "gpt-2": _GPT2, "phi-2": _GPT2, "mpt": _GPT2, "olmo": _GPT2,
    "smollm": _DIGITS, "starcoder": _DIGITS, "refact": _DIGITS, "command-r": _DIGITS,
    "codeshell": _DIGITS,
    "llama3": _LLAMA3, "llama-v3": _LLAMA3, "llama-bpe": _LLAMA3, "falcon3": _LLAMA3,
    "dbrx": _LLAMA3_MERGED, "smaug-bpe": _LLAMA3_MERGED,
}  # fmt: skip
# What an export names each pre-tokenizer (the first name llama.cpp reads it under).
EXPORT_NAMES = {
    _GPT2: "gpt-2",
    _DIGITS: "smollm",
    _LLAMA3: "llama-bpe",
    _LLAMA3_MERGED: "smaug-bpe",
}
NORMAL, CONTROL, USER_DEFINED = 1, 3, 4  # tokenizer.ggml.token_type values (llama.cpp)
SPECIAL_IDS = ("bos", "eos", "eot", "eom", "padding")  # tokenizer.ggml.<name>_token_id


def tokenizer_json(fields: dict[str, Any]) -> str:
    """The `tokenizer.json` text the GGUF metadata `fields` (key -> value) describes."""
    kind = fields.get("tokenizer.ggml.model")
    if kind != "gpt2":
        raise LmcoreError(
            f"tokenizer {kind!r} is not supported: only byte-level BPE "
            '(tokenizer.ggml.model "gpt2") can be imported'
        )
    pre = fields.get("tokenizer.ggml.pre")
    if pre not in PRE_TOKENIZERS:
        raise LmcoreError(
            f"pre-tokenizer {pre!r} (tokenizer.ggml.pre) is not supported; supported: "
            + ", ".join(sorted(PRE_TOKENIZERS))
        )
    tokens, merges = fields.get("tokenizer.ggml.tokens"), fields.get("tokenizer.ggml.merges")
    if not tokens or merges is None:
        raise LmcoreError("the GGUF lacks tokenizer.ggml.tokens or tokenizer.ggml.merges")
    types = fields.get("tokenizer.ggml.token_type") or [NORMAL] * len(tokens)
    if len(types) != len(tokens):
        raise LmcoreError("tokenizer.ggml.token_type and tokenizer.ggml.tokens differ in length")
    splits, gpt2_regex, ignore_merges = PRE_TOKENIZERS[pre]
    alphabet = set(byte_to_char().values())
    vocab, added = {}, []
    for i, (token, kind) in enumerate(zip(tokens, types, strict=True)):
        if kind == CONTROL and set(token) <= alphabet:
            added.append(
                {
                    "id": i,
                    "content": token,
                    "single_word": False,
                    "lstrip": False,
                    "rstrip": False,
                    "normalized": False,
                    "special": True,
                }
            )
        spelt = token if set(token) <= alphabet else _spell(token)
        vocab.setdefault(spelt, i)
    spec = {
        "version": "1.0", "truncation": None, "padding": None, "added_tokens": added,
        "normalizer": None, "pre_tokenizer": _pre_tokenizer(splits, gpt2_regex),
        "post_processor": _post_processor(fields, tokens), "decoder": _byte_level(True),
        "model": {"type": "BPE", "dropout": None, "unk_token": None,
                  "continuing_subword_prefix": None, "end_of_word_suffix": None,
                  "fuse_unk": False, "byte_fallback": False, "ignore_merges": ignore_merges,
                  "vocab": vocab, "merges": [m.split(" ", 1) for m in merges]},
    }  # fmt: skip
    return json.dumps(spec, ensure_ascii=False)


def special_ids(fields: dict[str, Any]) -> dict[str, int]:
    """{"bos": id, "eos": id, ...} for the special ids the metadata names (in range)."""
    n = len(fields.get("tokenizer.ggml.tokens") or ())
    found = {name: fields.get(f"tokenizer.ggml.{name}_token_id") for name in SPECIAL_IDS}
    return {k: int(v) for k, v in found.items() if isinstance(v, int) and 0 <= v < n}


def gguf_metadata(spec: dict[str, Any], ids: dict[str, int]) -> dict[str, Any]:
    """GGUF tokenizer metadata (key -> value) for a parsed tokenizer.json `spec` and its
    special ids ({"bos": 0, "eos": [0, 4], ...}; a list gives its first id)."""
    model = spec["model"]
    key = (*_split_of(spec.get("pre_tokenizer")), bool(model.get("ignore_merges")))
    pre = EXPORT_NAMES.get(key)  # type: ignore[arg-type]
    if pre is None or model.get("type") != "BPE" or spec.get("normalizer") is not None:
        raise LmcoreError("this tokenizer's pre-tokenizer has no GGUF (llama.cpp) name")
    size = max([*model["vocab"].values(), *(t["id"] for t in spec["added_tokens"])]) + 1
    tokens, types = [""] * size, [NORMAL] * size
    for text, i in model["vocab"].items():
        tokens[i] = text
    for t in spec["added_tokens"]:  # written as typed: llama.cpp matches them literally
        tokens[t["id"]] = t["content"]
        types[t["id"]] = CONTROL if t["special"] else USER_DEFINED
    merges = [" ".join(m) if isinstance(m, list) else m for m in model["merges"]]
    meta: dict[str, Any] = {
        "tokenizer.ggml.model": "gpt2", "tokenizer.ggml.pre": pre,
        "tokenizer.ggml.tokens": tokens, "tokenizer.ggml.token_type": types,
        "tokenizer.ggml.merges": merges,
    }  # fmt: skip
    for name, value in ids.items():
        first = value[0] if isinstance(value, list) else value
        if first is not None:
            meta[f"tokenizer.ggml.{name}_token_id"] = int(first)
    return meta


def _spell(text: str) -> str:
    spelling = byte_to_char()
    return "".join(spelling[b] for b in text.encode("utf-8"))


def _byte_level(use_regex: bool) -> dict[str, Any]:
    return {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True,
            "use_regex": use_regex}  # fmt: skip


def _pre_tokenizer(splits: tuple[str, ...], gpt2_regex: bool) -> dict[str, Any]:
    steps = [{"type": "Split", "pattern": {"Regex": r}, "behavior": "Isolated", "invert": False}
             for r in splits]  # fmt: skip
    steps.append(_byte_level(gpt2_regex))
    return steps[0] if len(steps) == 1 else {"type": "Sequence", "pretokenizers": steps}


def _split_of(pre: dict[str, Any] | None) -> tuple[tuple[str, ...], bool]:
    """(regexes, GPT-2 regex) of a tokenizer.json pre-tokenizer, or ((), None) if other."""
    steps = (pre or {}).get("pretokenizers", [pre]) if pre else []
    if not steps or steps[-1].get("type") != "ByteLevel" or steps[-1].get("add_prefix_space"):
        return ((), None)  # type: ignore[return-value]
    splits = []
    for step in steps[:-1]:
        if step.get("type") == "Digits" and step.get("individual_digits"):
            splits.append(DIGITS)  # Rust's is_numeric is \p{N}
        elif step.get("type") == "Split" and step.get("behavior") == "Isolated":
            splits.append((step.get("pattern") or {}).get("Regex"))
        else:
            return ((), None)  # type: ignore[return-value]
    return (tuple(splits), bool(steps[-1].get("use_regex", True)))


def _post_processor(fields: dict[str, Any], tokens: list[str]) -> dict[str, Any] | None:
    """Starts every text with the bos token when `tokenizer.ggml.add_bos_token` says so."""
    bos = special_ids(fields).get("bos")
    if not fields.get("tokenizer.ggml.add_bos_token") or bos is None:
        return None
    first = {"SpecialToken": {"id": tokens[bos], "type_id": 0}}
    return {
        "type": "TemplateProcessing",
        "single": [first, {"Sequence": {"id": "A", "type_id": 0}}],
        "pair": [first, {"Sequence": {"id": "A", "type_id": 0}},
                 {"Sequence": {"id": "B", "type_id": 1}}],
        "special_tokens": {tokens[bos]: {"id": tokens[bos], "ids": [bos], "tokens": [tokens[bos]]}},
    }  # fmt: skip
