"""Export a checkpoint as a GGUF file (F16 or Q8_0), written with `gguf`'s GGUFWriter.

    python -m lmcore export --checkpoint RUN --out model.gguf --gguf Q8_0

A Llama-family checkpoint (an import, or a fine-tune of one) becomes llama.cpp's "llama"
architecture, which llama.cpp runs; any other (lmcore's own block) becomes "lmcore", which
only lmcore's GGUF import reads back (lmcore/gguf_layout.py says why and how). The file
carries the tokenizer (lmcore/gguf_tokenizer.py), the chat template the version chats with
and its special and end ids (lmcore/chat_config.py): eos and eot are its first two end ids.

Types: the norms' gains stay F32 (llama.cpp's rule); every matrix is F16, or Q8_0 with
`gguf`'s reference quantizer (rows not a multiple of 32 fall back to F16, as llama.cpp's
converter does). Memory: the writer gets the header and tensor list first, then each tensor
is read from model.safetensors, converted and written a block of rows at a time: the process
never holds more than `BLOCK_ROWS_ELEMENTS` weights, whatever the model's size. The file is
written to a temp name beside `out` and renamed in when complete.

Example: `export_gguf("media/models/smol/v2", "smol-v2.Q8_0.gguf", "Q8_0")`
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from lmcore.chat_config import template_for, text_end_ids
from lmcore.checkpoint_files import find_checkpoint, read_config
from lmcore.config import GPTConfig
from lmcore.errors import LmcoreError
from lmcore.gguf_layout import metadata, rotary_heads, tensor_names, to_rotary_pairs
from lmcore.gguf_tokenizer import gguf_metadata
from lmcore.safetensors_stream import Range, TensorInfo, read_header
from lmcore.tokenizer import Tokenizer

TYPES = ("F16", "Q8_0")
FILE_TYPES = {"F16": 1, "Q8_0": 7}  # llama.cpp's LlamaFileType: MOSTLY_F16, MOSTLY_Q8_0
BLOCK_ROWS_ELEMENTS = 1 << 20  # weights converted at a time
NUMPY = {"F32": np.float32, "F16": np.float16, "BF16": np.uint16}


@dataclass
class OutTensor:
    name: str
    shape: tuple[int, ...]  # numpy order (rows first)
    qtype: str  # F32, F16 or Q8_0
    source: Range
    dtype: str  # the source's safetensors dtype
    heads: int | None  # rows reordered for llama.cpp's rotary pairs


@dataclass
class Plan:
    """Everything the file will hold, checked before a byte is written."""

    arch: str
    items: list[tuple[str, Any, str]]  # (key, value, GGUFValueType name)
    tensors: list[OutTensor]


def plan_gguf(checkpoint: str | Path, qtype: str = "F16", name: str | None = None) -> Plan:
    """What `export_gguf` writes, or LmcoreError (an unknown type, an inexpressible tokenizer).
    `name` is general.name (default: the checkpoint directory's name)."""
    if qtype not in TYPES:
        raise LmcoreError(f"GGUF type {qtype!r} is not offered; choose one of {', '.join(TYPES)}")
    directory = find_checkpoint(checkpoint)
    config = read_config(directory)
    if config.get("lora"):
        raise LmcoreError("a LoRA version holds only its adapter: merge it into a plain version "
                          "first, and export that")  # fmt: skip
    cfg = GPTConfig(**config["model"])
    tokenizer = Tokenizer.load(directory / "tokenizer.json")
    arch, items = metadata(cfg)
    items = [("general.name", name or Path(checkpoint).name, "STRING"),
             ("general.file_type", FILE_TYPES[qtype], "UINT32"), *items]  # fmt: skip
    if qtype == "Q8_0":
        items.append(("general.quantization_version", 2, "UINT32"))
    items += _tokenizer_items(config, tokenizer)
    return Plan(
        arch, items, _tensors(cfg, arch, read_header(directory / "model.safetensors"), qtype)
    )


def export_gguf(
    checkpoint: str | Path, out: str | Path, qtype: str = "F16", name: str | None = None
) -> dict[str, Any]:
    """Write the checkpoint as a GGUF file at `out` (atomically)."""
    out = Path(out)
    plan = plan_gguf(checkpoint, qtype, name)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp-{os.getpid()}")
    try:
        write_gguf(plan, tmp)
        os.replace(tmp, out)
    finally:
        tmp.unlink(missing_ok=True)
    return {"out": str(out), "architecture": plan.arch, "type": qtype,
            "tensors": len(plan.tensors), "bytes": out.stat().st_size}  # fmt: skip


def write_gguf(plan: Plan, path: Path) -> None:
    """The header, metadata and tensor list through GGUFWriter, then each tensor's bytes."""
    from gguf import GGMLQuantizationType, GGUFValueType, GGUFWriter

    writer = GGUFWriter(path, plan.arch)
    for key, value, kind in plan.items:  # an array's element type follows its first value
        writer.add_key_value(key, value, GGUFValueType[kind])
    for t in plan.tensors:  # shapes in elements (a uint8 dtype would mean bytes)
        writer.add_tensor_info(t.name, t.shape, np.dtype(np.float32), _nbytes(t),
                               raw_dtype=GGMLQuantizationType[t.qtype])  # fmt: skip
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_ti_data_to_file()
    (fout,) = writer.fout  # type: ignore[misc]
    for t in plan.tensors:
        writer.write_padding(fout, fout.tell())
        for block in _blocks(t):
            fout.write(block)
    writer.write_padding(fout, fout.tell())
    writer.close()


def _nbytes(t: OutTensor) -> int:
    n = int(np.prod(t.shape))
    return n * 4 if t.qtype == "F32" else n * 2 if t.qtype == "F16" else n // 32 * 34


def _tensors(
    cfg: GPTConfig, arch: str, source: dict[str, TensorInfo], qtype: str
) -> list[OutTensor]:
    out = []
    for lm_name, gguf_names in tensor_names(cfg).items():
        info = source.get(lm_name)
        if info is None or info.dtype not in NUMPY:
            raise LmcoreError(f"model.safetensors lacks {lm_name} in F32, F16 or BF16")
        rows = info.shape[0] // len(gguf_names)  # c_kv: keys, then values
        for i, name in enumerate(gguf_names):
            shape = (rows, *info.shape[1:])
            kind = "F32" if len(shape) == 1 else qtype if shape[-1] % 32 == 0 else "F16"
            out.append(OutTensor(name, shape, kind, info.rows(i * rows, (i + 1) * rows),
                                 info.dtype, rotary_heads(name, cfg, arch)))  # fmt: skip
    return out


def _blocks(t: OutTensor) -> Iterator[bytes]:
    """The tensor's bytes in its GGUF type, whole heads (or rows) a block at a time."""
    from gguf import GGMLQuantizationType
    from gguf.quants import quantize

    rows = t.shape[0] if len(t.shape) > 1 else 1
    width = int(np.prod(t.shape)) // rows
    step = max(1, BLOCK_ROWS_ELEMENTS // width)
    if t.heads is not None:
        per_head = rows // t.heads
        step = per_head * max(1, step // per_head)
    item = t.source.length // (rows * width)
    for lo in range(0, rows, step):
        n = min(step, rows - lo)
        raw = np.fromfile(t.source.path, dtype=NUMPY[t.dtype], count=n * width,
                          offset=t.source.start + lo * width * item)  # fmt: skip
        block = _to_f32(raw, t.dtype).reshape(n, width)
        if t.heads is not None:
            block = to_rotary_pairs(block, n // per_head)
        if t.qtype == "Q8_0":
            yield quantize(block, GGMLQuantizationType.Q8_0).tobytes()
        else:
            yield block.astype(np.float32 if t.qtype == "F32" else np.float16).tobytes()


def _to_f32(raw: np.ndarray, dtype: str) -> np.ndarray:
    if dtype == "BF16":  # the top half of an F32's bits
        return (raw.astype(np.uint32) << 16).view(np.float32)
    return raw.astype(np.float32, copy=False)


def _tokenizer_items(config: dict[str, Any], tokenizer: Tokenizer) -> list[tuple[str, Any, str]]:
    """The tokenizer, its special and end ids and its chat template as GGUF metadata."""
    template, ids = template_for(config, tokenizer), tokenizer.special_tokens
    if template is not None:
        ends = list(template.end_ids)
        bos, pad = ids.get(template.bos_token or ""), ids.get(template.pad_token or "")
    else:
        ends, bos, pad = text_end_ids(config, tokenizer), tokenizer.eot_id, tokenizer.eot_id
    specials = {"bos": bos, "eos": ends[0] if ends else None,
                "eot": ends[1] if len(ends) > 1 else None, "padding": pad}  # fmt: skip
    meta = gguf_metadata(json.loads(tokenizer.to_str()),
                         {k: v for k, v in specials.items() if v is not None})  # fmt: skip
    kinds = {"tokenizer.ggml.model": "STRING", "tokenizer.ggml.pre": "STRING"}
    items = [(k, v, kinds.get(k, "ARRAY" if isinstance(v, list) else "UINT32"))
             for k, v in meta.items()]  # fmt: skip
    items.append(("tokenizer.ggml.add_bos_token", "bos_token" in config.get("train", {}), "BOOL"))
    if template is not None:
        items.append(("tokenizer.chat_template", template.template, "STRING"))
    return items
