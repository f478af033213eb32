"""Import a GGUF file (llama.cpp's format) as an lmcore checkpoint: the same files a
`transformers` import writes (model.safetensors, config.json, tokenizer.json).

Supported: architecture "llama" (Llama, SmolLM, TinyLlama style; lmcore/gguf_layout.py) and
Bottega's own "lmcore", with a byte-level BPE tokenizer (lmcore/gguf_tokenizer.py) and
tensors in F32, F16, BF16, Q8_0, Q4_0, Q4_1, Q4_K or Q6_K. Anything else is refused with one
message naming it, and nothing is written (a temp directory renamed into place at the end).

Memory: `gguf`'s reader memory-maps the file, and each tensor is dequantized
(`gguf.quants.dequantize`) a block of rows at a time, straight into the safetensors file
(lmcore/safetensors_stream.py): the process holds about `CHUNK_ELEMENTS` floats of weights
at once, whatever the model's size. Dtypes: a float tensor keeps its type (F32, F16, BF16:
bytes copied), a quantized one becomes F32, which holds every dequantized value exactly; so
the checkpoint computes what the file says, bit for bit (loading casts to the model's dtype).
llama.cpp's row order for rotary queries and keys is undone (`from_rotary_pairs`).

Example: `import_gguf("SmolLM2-135M-Instruct.Q4_1.gguf", "media/models/smol/v1")`
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

import lmcore
from lmcore.chat_config import CHAT_TOKENS, lmcore_template
from lmcore.chat_template import LMCORE_TEMPLATE, ChatTemplate
from lmcore.checkpoint_files import FORMAT, FORMAT_VERSION
from lmcore.config import GPTConfig
from lmcore.errors import LmcoreError
from lmcore.gguf_layout import from_rotary_pairs, gpt_config, rotary_heads, tensor_names
from lmcore.gguf_tokenizer import special_ids, tokenizer_json
from lmcore.safetensors_stream import OutTensor, Produced, iter_file
from lmcore.tokenizer import Tokenizer

MAGIC = b"GGUF"
FLOAT_TYPES = {"F32": "F32", "F16": "F16", "BF16": "BF16"}  # GGML type -> safetensors dtype
QUANT_TYPES = ("Q8_0", "Q4_0", "Q4_1", "Q4_K", "Q6_K")
CHUNK_ELEMENTS = 1 << 20  # weights dequantized at a time (4 MiB of F32)


def is_gguf(path: str | Path) -> bool:
    """Whether `path` is a file starting with GGUF's magic bytes."""
    path = Path(path)
    if not path.is_file():
        return False
    with path.open("rb") as f:
        return f.read(4) == MAGIC


def import_gguf(source: str | Path, out: str | Path) -> dict[str, Any]:
    """Convert the GGUF file `source` into an lmcore checkpoint at `out`."""
    source, out = Path(source), Path(out)
    reader, fields = read_gguf(source)
    tokenizer = _tokenizer(fields)
    tensors = {t.name: t for t in reader.tensors}
    cfg = gpt_config(fields, tokenizer.vocab_size, tied="output.weight" not in tensors)
    out_tensors = _out_tensors(cfg, fields["general.architecture"], tensors)
    chat, template = chat_config(fields, cfg, tokenizer)
    config = {
        "format": FORMAT, "format_version": FORMAT_VERSION, "model": cfg.to_dict(),
        "train": _train_config(source, tokenizer), "step": 0, "metrics": {}, "state": {},
        "params": sum(int(np.prod(t.shape)) for t in out_tensors),
        "lmcore_version": lmcore.__version__, **chat,
    }  # fmt: skip
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.tmp-", dir=out.parent))
    try:
        with (tmp / "model.safetensors").open("wb") as f:
            for chunk in iter_file(out_tensors, {"format": FORMAT}):
                f.write(chunk)
        (tmp / "tokenizer.json").write_text(tokenizer.to_str(), encoding="utf-8")
        (tmp / "config.json").write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")
        tmp.chmod(0o755)
        os.rename(tmp, out)  # fails if out exists: an import never overwrites
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    kinds = sorted({t.tensor_type.name for t in reader.tensors})
    return {"out": str(out), "architecture": f"{fields['general.architecture']} GGUF "
            f"({', '.join(kinds)})", "params": config["params"], "model": cfg.to_dict(),
            "chat": template is not None,
            "end_ids": list(template.end_ids) if template else []}  # fmt: skip


def read_gguf(path: Path) -> tuple[Any, dict[str, Any]]:
    """gguf's reader over `path` and its metadata as plain values, or LmcoreError."""
    from gguf import GGUFReader

    class Reader(GGUFReader):
        """Reads the memory map as a plain array: the reader slices it once per value, and a
        np.memmap slice runs Python code each time (49k tokens: 11 s and 210 MB -> 4 s and
        110 MB). The array still reads the mapped file; nothing is copied."""

        @property
        def data(self) -> np.ndarray:
            return self._plain

        @data.setter
        def data(self, value: np.ndarray) -> None:
            self._plain = value.view(np.ndarray)

    if not is_gguf(path):
        raise LmcoreError("not a GGUF file (it does not start with 'GGUF')")
    try:
        reader = Reader(path)
        fields = {name: f.contents() for name, f in reader.fields.items()}
    except (ValueError, IndexError, KeyError, OverflowError, UnicodeDecodeError) as exc:
        raise LmcoreError(f"not a readable GGUF file (truncated or damaged: {exc})") from None
    size = path.stat().st_size
    for t in reader.tensors:
        if t.data_offset + t.n_bytes > size or t.data.nbytes != t.n_bytes:
            raise LmcoreError(f"tensor {t.name} lies outside the file (truncated?)")
    return reader, fields


def _tokenizer(fields: dict[str, Any]) -> Tokenizer:
    try:
        return Tokenizer.from_str(tokenizer_json(fields))
    except LmcoreError as exc:
        raise LmcoreError(f"the GGUF's tokenizer: {exc}") from None


def _out_tensors(cfg: GPTConfig, arch: str, tensors: dict[str, Any]) -> list[OutTensor]:
    """lmcore's tensors, each produced from the GGUF's when the file is written."""
    if "rope_freqs.weight" in tensors:
        raise LmcoreError("rope scaling (rope_freqs.weight, Llama 3.1 style) is not supported")
    names = tensor_names(cfg)
    wanted = {n for gguf_names in names.values() for n in gguf_names}
    missing, extra = sorted(wanted - set(tensors)), sorted(set(tensors) - wanted)
    if missing or extra:
        raise LmcoreError(
            "the tensors do not match a model of this architecture: "
            + "; ".join(f"{label} {', '.join(v[:3])}{' ...' if len(v) > 3 else ''}"
                        for label, v in (("missing", missing), ("unexpected", extra)) if v)
        )  # fmt: skip
    unsupported = sorted({t.tensor_type.name for t in tensors.values()} - set(FLOAT_TYPES)
                         - set(QUANT_TYPES))  # fmt: skip
    if unsupported:
        raise LmcoreError(
            f"tensor type {', '.join(unsupported)} is not supported; supported: "
            f"{', '.join([*FLOAT_TYPES, *QUANT_TYPES])}"
        )
    shapes = _shapes(cfg)
    out = []
    for lm_name, gguf_names in names.items():
        parts = [tensors[n] for n in gguf_names]
        for n, t in zip(gguf_names, parts, strict=True):
            expected = shapes[n.rsplit(".", 2)[-2]]
            shape = [int(s) for s in reversed(t.shape)]  # GGUF lists ne[0] first
            if tuple(shape) != expected:
                raise LmcoreError(f"{n} is {shape}, but the metadata and the tokenizer imply "
                                  f"{list(expected)}")  # fmt: skip
        kinds = {t.tensor_type.name for t in parts}
        dtype = FLOAT_TYPES.get(kinds.pop(), "F32") if len(kinds) == 1 else "F32"
        rows = sum(int(t.data.shape[0]) for t in parts)
        produced = [_produce(t, dtype, rotary_heads(t.name, cfg, arch)) for t in parts]
        out.append(OutTensor(lm_name, dtype, (rows, *expected[1:]), produced))
    return out


def _shapes(cfg: GPTConfig) -> dict[str, tuple[int, ...]]:
    kv, d, h, V = cfg.n_kv_head * cfg.head_dim, cfg.d_model, cfg.d_hidden, cfg.vocab_size
    return {"token_embd": (V, d), "output": (V, d), "attn_q": (d, d), "attn_k": (kv, d),
            "attn_v": (kv, d), "attn_output": (d, d), "ffn_gate": (h, d), "ffn_up": (h, d),
            "ffn_down": (d, h), "attn_norm": (d,), "ffn_norm": (d,),
            "output_norm": (d,)}  # fmt: skip


def _produce(tensor: Any, dtype: str, heads: int | None) -> Produced:
    """The tensor's rows as `dtype` bytes, a block of rows at a time (whole heads when the
    rotary row order is undone)."""
    rows = int(tensor.data.shape[0]) if tensor.data.ndim > 1 else 1
    width = int(np.prod(tensor.shape)) // rows  # elements per row
    step = max(1, CHUNK_ELEMENTS // width)
    if heads is not None:
        per_head = rows // heads
        step = per_head * max(1, step // per_head)
    itemsize = 2 if dtype in ("F16", "BF16") else 4

    def chunks() -> Iterator[bytes]:
        from gguf import GGMLQuantizationType
        from gguf.quants import dequantize

        data = tensor.data.reshape(rows, -1)
        for lo in range(0, rows, step):
            block = data[lo : lo + step]
            if heads is not None:
                block = from_rotary_pairs(block, len(block) // per_head)
            if dtype == tensor.tensor_type.name:
                yield np.ascontiguousarray(block).tobytes()
            else:
                kind = GGMLQuantizationType[tensor.tensor_type.name]
                yield dequantize(block, kind).astype(np.float32, copy=False).tobytes()

    return Produced(rows * width * itemsize, chunks)


def _train_config(source: Path, tokenizer: Tokenizer) -> dict[str, Any]:
    """`bos_token` when the tokenizer starts every text with one (lmcore.score.bos_id_for)."""
    post = json.loads(tokenizer.to_str()).get("post_processor") or {}
    first = (post.get("single") or [{}])[0]
    if "SpecialToken" in first:
        return {"bos_token": tokenizer.special_id(first["SpecialToken"]["id"]),
                "imported_from": source.name}  # fmt: skip
    return {"imported_from": source.name}


def chat_config(
    fields: dict[str, Any], cfg: GPTConfig, tokenizer: Tokenizer
) -> tuple[dict[str, Any], ChatTemplate | None]:
    """config.json's entries for chat and export, and the template (checked to render a short
    conversation, as a `transformers` import checks it; None without one): "chat_template"
    (lmcore/chat_config.py has the format) and the `hf` record a "Download for transformers"
    gives back (token ids, tokenizer_config.json). Bottega's own layout, which an export of an
    lmcore model carries, comes back with all its end ids (a GGUF holds two)."""
    tokens = fields.get("tokenizer.ggml.tokens") or []
    ids = special_ids(fields)
    text = {name: tokens[i] for name, i in ids.items()}
    end_ids = list(dict.fromkeys(ids[k] for k in ("eos", "eot", "eom") if k in ids))
    tokenizer_config = {
        "tokenizer_class": "PreTrainedTokenizerFast", "model_max_length": cfg.context,
        "bos_token": text.get("bos"), "eos_token": text.get("eos"),
        "pad_token": text.get("padding"), "add_eos_token": False,
        "add_bos_token": bool(fields.get("tokenizer.ggml.add_bos_token")),
        "clean_up_tokenization_spaces": False,
    }  # fmt: skip
    token_ids = {"bos_token_id": ids.get("bos"), "pad_token_id": ids.get("padding"),
                 "eos_token_id": end_ids[0] if len(end_ids) == 1 else (end_ids or None)}  # fmt: skip
    entries: dict[str, Any] = {"hf": {"token_ids": token_ids, "tokenizer_config": tokenizer_config}}
    source = fields.get("tokenizer.chat_template")
    if not isinstance(source, str) or not source.strip():
        return entries, None
    tokenizer_config["chat_template"] = source
    if source == LMCORE_TEMPLATE and all(t in tokenizer.special_tokens for t in CHAT_TOKENS):
        template = lmcore_template(tokenizer)
    else:
        template = ChatTemplate(source, bos_token=text.get("bos"), eos_token=text.get("eos"),
                                pad_token=text.get("padding"), end_ids=tuple(end_ids))  # fmt: skip
    template.render([{"role": "user", "content": "Hello"}], add_generation_prompt=True)
    entries["chat_template"] = template.to_config()
    return entries, template
