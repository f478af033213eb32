"""How an lmcore model is laid out in a GGUF file: architecture metadata and tensor names.

Two architectures (`general.architecture`):
- "llama" (llama.cpp's own, so llama.cpp runs the file): the Llama family's block, lmcore's
  options `mlp="swiglu"`, `norm_gain`, no QK or embedding norm, `rope_sign=+1`, no soft cap.
  llama.cpp turns adjacent channel pairs (2i, 2i+1) where `transformers` and lmcore turn
  (i, i + hs/2), so its converter (convert_hf_to_gguf.py) reorders each head's rows of the
  query and key weights; `to_rotary_pairs` does that and `from_rotary_pairs` undoes it.
- "lmcore": every other combination of options (lmcore's own block: QK-norm, relu², soft cap,
  embedding norm). Its metadata is GPTConfig's fields as `lmcore.<field>` (floats as float64,
  so a round trip is exact; a None field is left out) and its query/key rows stay as lmcore
  keeps them. llama.cpp cannot run such a file: only lmcore's GGUF import reads it.

Tensors keep llama.cpp's names in both (`token_embd`, `blk.N.attn_q`, ...); lmcore's stacked
keys/values (`c_kv`) are written as `attn_k` and `attn_v`.

Example: `tensor_names(cfg)["blocks.0.attn.c_kv.weight"] == ["blk.0.attn_k.weight", "blk.0.attn_v.weight"]`
"""

from __future__ import annotations

from dataclasses import fields as dataclass_fields
from typing import Any

import numpy as np

from lmcore.config import GPTConfig
from lmcore.errors import LmcoreError
from lmcore.hf_fields import MAX_CONTEXT  # as for transformers imports

LLAMA, LMCORE = "llama", "lmcore"
# llama key -> (GPTConfig field, required)
LLAMA_KEYS = {
    "block_count": "n_layer", "embedding_length": "d_model", "attention.head_count": "n_head",
    "attention.head_count_kv": "n_kv_head", "feed_forward_length": "mlp_hidden",
    "context_length": "context", "rope.freq_base": "rope_base",
    "attention.layer_norm_rms_epsilon": "norm_eps",
}  # fmt: skip
LLAMA_OPTIONS = {"norm_gain": True, "embed_norm": False, "qk_norm": False, "mlp": "swiglu",
                 "rope_sign": 1, "logit_softcap": None}  # fmt: skip


def is_llama(cfg: GPTConfig) -> bool:
    """Whether llama.cpp's "llama" architecture computes what `cfg` does."""
    return all(getattr(cfg, k) == v for k, v in LLAMA_OPTIONS.items()) and cfg.norm_eps is not None


def tensor_names(cfg: GPTConfig) -> dict[str, list[str]]:
    """lmcore tensor name -> its GGUF tensor(s), in the order a file lists them."""
    names = {"wte.weight": ["token_embd.weight"]}
    for i in range(cfg.n_layer):
        lm, g = f"blocks.{i}.", f"blk.{i}."
        if cfg.norm_gain:
            names[lm + "ln_1.weight"] = [g + "attn_norm.weight"]
        names[lm + "attn.c_q.weight"] = [g + "attn_q.weight"]
        names[lm + "attn.c_kv.weight"] = [g + "attn_k.weight", g + "attn_v.weight"]
        names[lm + "attn.c_proj.weight"] = [g + "attn_output.weight"]
        if cfg.norm_gain:
            names[lm + "ln_2.weight"] = [g + "ffn_norm.weight"]
        if cfg.mlp == "swiglu":
            names[lm + "mlp.c_gate.weight"] = [g + "ffn_gate.weight"]
        names[lm + "mlp.c_fc.weight"] = [g + "ffn_up.weight"]
        names[lm + "mlp.c_proj.weight"] = [g + "ffn_down.weight"]
    if cfg.norm_gain:
        names["ln_f.weight"] = ["output_norm.weight"]
    if not cfg.tie_weights:
        names["lm_head.weight"] = ["output.weight"]
    return names


def rotary_heads(gguf_name: str, cfg: GPTConfig, arch: str) -> int | None:
    """The heads whose rows llama.cpp reorders in this tensor (None: not reordered)."""
    if arch != LLAMA:
        return None
    if gguf_name.endswith(".attn_q.weight"):
        return cfg.n_head
    return cfg.n_kv_head if gguf_name.endswith(".attn_k.weight") else None


def to_rotary_pairs(rows: np.ndarray, n_head: int) -> np.ndarray:
    """A whole number of heads' rows, (i, i + hs/2) pairs -> llama.cpp's (2i, 2i+1) order."""
    hs = rows.shape[0] // n_head
    return rows.reshape(n_head, 2, hs // 2, -1).swapaxes(1, 2).reshape(rows.shape)


def from_rotary_pairs(rows: np.ndarray, n_head: int) -> np.ndarray:
    """The inverse of `to_rotary_pairs`."""
    hs = rows.shape[0] // n_head
    return rows.reshape(n_head, hs // 2, 2, -1).swapaxes(1, 2).reshape(rows.shape)


def gpt_config(fields: dict[str, Any], vocab_size: int, tied: bool) -> GPTConfig:
    """The GPTConfig a GGUF's metadata describes, or LmcoreError saying what is unsupported."""
    arch = fields.get("general.architecture")
    if arch == LMCORE:
        known = {f.name for f in dataclass_fields(GPTConfig)}
        values = {k[len("lmcore.") :]: v for k, v in fields.items() if k.startswith("lmcore.")}
        values = {k: v for k, v in values.items() if k in known}
        return _config(lambda: GPTConfig(**{**values, "vocab_size": vocab_size}))
    if arch != LLAMA:
        raise LmcoreError(
            f"unsupported architecture {arch!r} (general.architecture); supported: "
            f"{LLAMA!r} (Llama, SmolLM, TinyLlama and the like) and {LMCORE!r} (Bottega's own)"
        )
    get = {k: fields.get(f"llama.{k}") for k in LLAMA_KEYS}
    missing = [f"llama.{k}" for k, v in get.items() if v is None and k != "rope.freq_base"]
    if missing:
        raise LmcoreError(f"the GGUF lacks {', '.join(missing)}")
    _refuse_llama_variants(fields, get)
    values = {LLAMA_KEYS[k]: v for k, v in get.items() if v is not None}
    values["context"] = min(int(values["context"]), MAX_CONTEXT)
    return _config(lambda: GPTConfig(vocab_size=vocab_size, tie_weights=tied,
                                     **values, **LLAMA_OPTIONS))  # fmt: skip


def _refuse_llama_variants(fields: dict[str, Any], get: dict[str, Any]) -> None:
    d, heads = get["embedding_length"], get["attention.head_count"]
    head_dim = d // heads if isinstance(d, int) and isinstance(heads, int) and heads else None
    scaling = fields.get("llama.rope.scaling.type")
    refusals = [
        (fields.get("llama.expert_count"), "a mixture of experts"),
        (not isinstance(get["attention.head_count_kv"], int), "per-layer head counts"),
        (scaling not in (None, "none"), f"rope scaling {scaling!r} (only the plain rotary)"),
        (any(fields.get(f"llama.{k}") not in (None, head_dim) for k in
             ("rope.dimension_count", "attention.key_length", "attention.value_length")),
         "a head size other than embedding_length / head_count"),
    ]  # fmt: skip
    for refused, what in refusals:
        if refused:
            raise LmcoreError(f"a llama GGUF with {what} is not supported")


def _config(make: Any) -> GPTConfig:
    try:
        return make()
    except (TypeError, ValueError) as exc:
        raise LmcoreError(f"the GGUF's metadata describes an impossible model ({exc})") from None


def metadata(cfg: GPTConfig) -> tuple[str, list[tuple[str, Any, str]]]:
    """(architecture, [(key, value, type)]) to write for `cfg`; types are GGUFValueType names."""
    if is_llama(cfg):
        values = cfg.to_dict() | {"mlp_hidden": cfg.d_hidden}
        types = {"rope_base": "FLOAT32", "norm_eps": "FLOAT32"}
        items = [(f"llama.{k}", values[f], types.get(f, "UINT32")) for k, f in LLAMA_KEYS.items()]
        items += [("llama.rope.dimension_count", cfg.head_dim, "UINT32"),
                  ("llama.vocab_size", cfg.vocab_size, "UINT32")]  # fmt: skip
        return LLAMA, items
    items = []
    for name, value in cfg.to_dict().items():
        if value is None:
            continue
        kind = {bool: "BOOL", int: "INT64", float: "FLOAT64", str: "STRING"}[type(value)]
        items.append((f"lmcore.{name}", value, kind))
    return LMCORE, items
