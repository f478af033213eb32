"""Import a pretrained `transformers` checkpoint (NanoChat or Llama family) as an lmcore
checkpoint: safetensors weights, config.json with the matching GPTConfig, the tokenizer.

Supported: `NanoChatForCausalLM` (lmcore's own block) and `LlamaForCausalLM` (gated SiLU MLP,
RMSNorm with weights, grouped-query attention, `rope_theta`, tied or untied embeddings: SmolLM
and many others), each with a byte-level BPE `tokenizer.json`. Anything else is refused with
a message saying what is supported, and nothing is written: the checkpoint appears only
once complete (a temp directory renamed into place).

Everything a chat model needs comes along (lmcore/chat_config.py): the chat template
(`chat_template.jinja`, else `tokenizer_config.json`'s), its special tokens, the end ids
(`generation_config.json`'s `eos_token_id`, one or a list, and the eos token's) and the
sampling defaults of `generation_config.json`, under config.json's `chat_template` and
`generation_defaults`. A template that is not valid Jinja is refused.

The weights are never unpickled (`.bin`/`.pt` files are refused) and never loaded whole:
tensors are renamed, and keys/values stacked into lmcore's `c_kv`, by copying byte ranges
(lmcore/safetensors_stream.py), so memory stays flat for a model of any size and the
dtype is kept (loading casts it). config.json becomes a GPTConfig through lmcore/hf_fields.py's
table, the one the export writes with; `context` is min(max_position_embeddings,
MAX_CONTEXT): the engine preallocates a KV cache of the context's length for each request.

Example: `import_hf("SmolLM-135M/", "media/models/smol/v1")`
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import tempfile
import zipfile
from pathlib import Path
from typing import Any

import lmcore
from lmcore.chat_config import from_hf, hf_generation_defaults, hf_template_source
from lmcore.chat_template import ChatTemplate
from lmcore.checkpoint_files import FORMAT, FORMAT_VERSION
from lmcore.config import GPTConfig
from lmcore.errors import LmcoreError
from lmcore.hf_fields import gpt_config, name_map
from lmcore.safetensors_stream import OutTensor, TensorInfo, iter_file, read_header
from lmcore.tokenizer import Tokenizer

WEIGHT_DTYPES = ("F32", "F16", "BF16")
IGNORED_SUFFIXES = ("rotary_emb.inv_freq",)  # buffers older transformers versions saved
PICKLED = ("*.bin", "*.pt", "*.pth", "*.ckpt", "*.pkl")


def import_hf(source: str | Path, out: str | Path) -> dict[str, Any]:
    """Convert the `transformers` directory `source` into an lmcore checkpoint at `out`."""
    source, out = Path(source), Path(out)
    hf_config = _read_json(source, "config.json")
    cfg = gpt_config(hf_config)
    tensors = _out_tensors(cfg, _hf_tensors(source))
    tokenizer = _tokenizer(source, cfg)
    hf = _hf_extras(source, hf_config)
    template = chat_template(hf, hf_config, tokenizer)
    config = {
        "format": FORMAT, "format_version": FORMAT_VERSION, "model": cfg.to_dict(),
        "train": _train_config(source, tokenizer), "step": 0, "metrics": {}, "state": {},
        "params": sum(_numel(t.shape) for t in tensors), "lmcore_version": lmcore.__version__,
        "hf": hf, "generation_defaults": hf_generation_defaults(hf.get("generation_config") or {}),
    }  # fmt: skip
    if template is not None:
        config["chat_template"] = template.to_config()
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.tmp-", dir=out.parent))
    try:
        with (tmp / "model.safetensors").open("wb") as f:
            for chunk in iter_file(tensors, {"format": FORMAT}):
                f.write(chunk)
        (tmp / "tokenizer.json").write_text(tokenizer.to_str(), encoding="utf-8")
        (tmp / "config.json").write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")
        tmp.chmod(0o755)
        os.rename(tmp, out)  # fails if out exists: an import never overwrites
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return {"out": str(out), "architecture": hf_config["architectures"][0],
            "params": config["params"], "model": cfg.to_dict(), "chat": template is not None,
            "end_ids": list(template.end_ids) if template else []}  # fmt: skip


def chat_template(
    hf: dict[str, Any], hf_config: dict[str, Any], tokenizer: Tokenizer
) -> ChatTemplate | None:
    """The model's chat template with its special tokens and end ids, checked to compile
    (the render of a short conversation); None for a model that came without one."""
    source = hf_template_source(hf.get("tokenizer_config") or {})
    if source is None:
        return None
    template = from_hf(source, hf.get("tokenizer_config") or {},
                       hf.get("generation_config") or {}, hf_config, tokenizer)  # fmt: skip
    template.render([{"role": "user", "content": "Hello"}], add_generation_prompt=True)
    return template


def _read_json(directory: Path, name: str) -> dict[str, Any]:
    path = directory / name
    if not path.is_file():
        raise LmcoreError(f"no {name} in the model directory")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise LmcoreError(f"{name}: not valid JSON ({exc})") from None
    if not isinstance(data, dict):
        raise LmcoreError(f"{name}: not a JSON object")
    return data


def _hf_tensors(source: Path) -> dict[str, TensorInfo]:
    """Every tensor of the checkpoint, across shards, by name."""
    index = source / "model.safetensors.index.json"
    if index.is_file():
        weight_map = _read_json(source, index.name).get("weight_map")
        if not isinstance(weight_map, dict):
            raise LmcoreError(f"{index.name}: no weight_map")
        shards = sorted(set(weight_map.values()))
        missing = [s for s in shards if Path(s).name != s or not (source / s).is_file()]
        if missing:
            raise LmcoreError(f"{index.name} names shards that are missing: {', '.join(missing)}")
    elif (source / "model.safetensors").is_file():
        shards = ["model.safetensors"]
    else:
        pickled = sorted(p.name for pattern in PICKLED for p in source.glob(pattern))
        if pickled:
            raise LmcoreError(
                f"{', '.join(pickled)}: pickled weights are refused (they can run code when "
                "loaded); convert them to safetensors first"
            )
        raise LmcoreError("no weights: expected model.safetensors (or a sharded index)")
    tensors: dict[str, TensorInfo] = {}
    for shard in shards:
        tensors.update(read_header(source / shard))
    return {n: t for n, t in tensors.items() if not n.endswith(IGNORED_SUFFIXES)}


def _out_tensors(cfg: GPTConfig, hf: dict[str, TensorInfo]) -> list[OutTensor]:
    """lmcore's tensors from the `transformers` ones, every shape checked against `cfg`."""
    kv = cfg.n_kv_head * cfg.head_dim
    d, h, V = cfg.d_model, cfg.d_hidden, cfg.vocab_size
    shapes = {"q_proj": (d, d), "k_proj": (kv, d), "v_proj": (kv, d), "o_proj": (d, d),
              "fc1": (h, d), "up_proj": (h, d), "gate_proj": (h, d), "fc2": (d, h),
              "down_proj": (d, h), "embed_tokens": (V, d), "lm_head": (V, d)}  # fmt: skip
    names = name_map(cfg)
    wanted = {n for hf_names in names.values() for n in hf_names}
    if cfg.tie_weights:
        hf.pop("lm_head.weight", None)  # some files repeat the tied tensor
    missing, extra = sorted(wanted - set(hf)), sorted(set(hf) - wanted)
    if missing or extra:
        raise LmcoreError(
            "the weights do not match config.json: "
            + "; ".join(f"{label} {', '.join(v[:3])}{' ...' if len(v) > 3 else ''}"
                        for label, v in (("missing", missing), ("unexpected", extra)) if v)
        )  # fmt: skip
    out = []
    for lm_name, hf_names in names.items():
        parts = [hf[n] for n in hf_names]
        for n, t in zip(hf_names, parts, strict=True):
            kind = n.split(".")[-2]
            expected = shapes.get(kind, (d,))  # the norms' gains are (d,)
            if t.shape != expected or t.dtype not in WEIGHT_DTYPES:
                raise LmcoreError(
                    f"{n} is {t.dtype} {list(t.shape)}, but config.json implies "
                    f"{list(expected)} in one of {', '.join(WEIGHT_DTYPES)}"
                )
        if len({t.dtype for t in parts}) > 1:
            raise LmcoreError(f"{' and '.join(hf_names)} have different dtypes")
        rows = sum(t.shape[0] for t in parts)
        out.append(OutTensor(lm_name, parts[0].dtype, (rows, *parts[0].shape[1:]),
                             [t.data for t in parts]))  # fmt: skip
    return out


def _tokenizer(source: Path, cfg: GPTConfig) -> Tokenizer:
    if not (source / "tokenizer.json").is_file():
        raise LmcoreError("no tokenizer.json: a byte-level BPE tokenizer.json is required")
    try:
        tokenizer = Tokenizer.load(source / "tokenizer.json")
    except LmcoreError as exc:
        raise LmcoreError(f"tokenizer.json: {exc} (only byte-level BPE is supported)") from None
    if tokenizer.vocab_size != cfg.vocab_size:
        raise LmcoreError(
            f"the tokenizer has {tokenizer.vocab_size:,} tokens but the embeddings "
            f"{cfg.vocab_size:,} rows: they must be equal"
        )
    return tokenizer


def _train_config(source: Path, tokenizer: Tokenizer) -> dict[str, Any]:
    """`bos_token` when the tokenizer starts every text with one (lmcore.score.bos_id_for)."""
    spec = json.loads(tokenizer.to_str())
    processor = spec.get("post_processor") or {}
    processors = processor.get("processors", [processor])
    for p in processors:
        first = (p.get("single") or [{}])[0] if p.get("type") == "TemplateProcessing" else {}
        if "SpecialToken" in first:
            return {"bos_token": first["SpecialToken"]["id"], "imported_from": source.name}
    return {"imported_from": source.name}


def _hf_extras(source: Path, hf_config: dict[str, Any]) -> dict[str, Any]:
    """What a re-export gives back as it came: token ids, the tokenizer's settings (with the
    chat template; `chat_template.jinja` wins, as in `transformers`) and the generation
    config."""
    ids = {k: hf_config.get(k) for k in ("bos_token_id", "eos_token_id", "pad_token_id")}
    extras: dict[str, Any] = {"token_ids": ids}
    tokenizer_config = {}
    if (source / "tokenizer_config.json").is_file():
        tokenizer_config = _read_json(source, "tokenizer_config.json")
    template = source / "chat_template.jinja"
    if template.is_file():
        try:
            tokenizer_config["chat_template"] = template.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise LmcoreError(f"chat_template.jinja: unreadable ({exc})") from None
    if tokenizer_config:
        extras["tokenizer_config"] = tokenizer_config
    if (source / "generation_config.json").is_file():
        extras["generation_config"] = _read_json(source, "generation_config.json")
    return extras


def _numel(shape: tuple[int, ...]) -> int:
    n = 1
    for s in shape:
        n *= s
    return n


def extract_zip(archive: str | Path, dest: str | Path, max_bytes: int) -> Path:
    """Unpack an uploaded zip into `dest` (streaming) and return the directory holding
    config.json: the zip's root or its single top folder. Refuses paths outside the root,
    links, and more than `max_bytes` unpacked."""
    dest = Path(dest)
    try:
        with zipfile.ZipFile(archive) as zf:
            members = zf.infolist()
            for m in members:
                parts = Path(m.filename).parts
                if m.filename.startswith(("/", "\\")) or ".." in parts or ":" in m.filename:
                    raise LmcoreError(f"the zip holds a path outside its root: {m.filename!r}")
                if stat.S_ISLNK(m.external_attr >> 16):
                    raise LmcoreError(f"the zip holds a link: {m.filename!r}")
            if sum(m.file_size for m in members) > max_bytes:
                raise LmcoreError(f"the zip unpacks to more than {max_bytes:,} bytes")
            for m in members:
                target = dest / m.filename
                if m.is_dir():
                    target.mkdir(parents=True, exist_ok=True)
                    continue
                target.parent.mkdir(parents=True, exist_ok=True)
                with zf.open(m) as src, target.open("wb") as out:
                    shutil.copyfileobj(src, out, 1 << 20)
    except (zipfile.BadZipFile, zipfile.LargeZipFile) as exc:
        raise LmcoreError(f"not a readable zip file ({exc})") from None
    if (dest / "config.json").is_file():
        return dest
    tops = [p for p in dest.iterdir() if p.is_dir()]
    if len(tops) == 1 and (tops[0] / "config.json").is_file():
        return tops[0]
    raise LmcoreError("no config.json at the zip's root or in its single top folder")
