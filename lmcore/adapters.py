"""A LoRA checkpoint on disk: the adapter, the reference to its base, and its PEFT form.

A LoRA checkpoint is a checkpoint directory (lmcore/checkpoint.py) whose weights file is
`adapter.safetensors` (only the A and B matrices of lmcore/lora.py: a few MB where the base
has hundreds) and whose config.json holds a "lora" object:

    {"r": 8, "alpha": 16.0, "dropout": 0.05, "targets": ["q", "k", "v", "o", ...],
     "base": "../a1b2c3", "base_sha256": "<SHA-256 of the base's model.safetensors>"}

`base` is the base checkpoint's directory, relative to this one, so a tree of checkpoints (a
user's model versions) can move as a whole; `base_sha256` makes loading refuse a base whose
weights changed since the adapter was trained on them (a run directory trained further, a
different model put in its place). The trade-off of storing a reference instead of the
weights: the base must outlive the adapter (the web app refuses to delete a version that
adapters depend on) and loading reads both.

PEFT: `peft_files` writes the adapter as `adapter_config.json` + `adapter_model.safetensors`,
which `peft.PeftModel.from_pretrained` loads onto the base's `transformers` export
(lmcore/hf_export.py). Renaming only, streamed like the export: no torch here.

Example: `export_peft("runs/chat-lora", "out/chat-lora-peft")`
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

from lmcore.checkpoint_files import find_checkpoint, read_config
from lmcore.config import GPTConfig, LoRAConfig
from lmcore.errors import LmcoreError
from lmcore.hf_export import ExportFile, write_dir
from lmcore.hf_fields import family, hf_matrix
from lmcore.safetensors_stream import OutTensor, iter_file, read_header

ADAPTER, WEIGHTS = "adapter.safetensors", "model.safetensors"


def weights_digest(directory: str | Path) -> str:
    """SHA-256 of a checkpoint's model.safetensors, read a MiB at a time."""
    digest = hashlib.sha256()
    try:
        with (Path(directory) / WEIGHTS).open("rb") as f:
            while block := f.read(1 << 20):
                digest.update(block)
    except OSError as exc:
        raise LmcoreError(f"{directory}: cannot read the base weights ({exc.strerror})") from exc
    return digest.hexdigest()


def base_reference(cfg: LoRAConfig, base_dir: str | Path) -> dict[str, Any]:
    """The "lora" object for an adapter on the plain checkpoint `base_dir` (an absolute path
    here; `stored` makes it relative to where the adapter is saved)."""
    base_dir = Path(base_dir).resolve()
    if read_config(base_dir).get("lora"):
        raise LmcoreError(
            f"{base_dir}: a LoRA adapter starts from a whole model, and this is an adapter "
            "itself: merge it first (python -m lmcore merge), or fine-tune it fully"
        )
    return {**cfg.to_dict(), "base": str(base_dir), "base_sha256": weights_digest(base_dir)}


def stored(section: dict[str, Any], directory: str | Path) -> dict[str, Any]:
    """`section` with its base as a path relative to the checkpoint `directory`."""
    base = os.path.relpath(Path(section["base"]).resolve(), Path(directory).resolve())
    return {**section, "base": base}


def base_directory(directory: str | Path, section: dict[str, Any]) -> Path:
    """The base checkpoint of the adapter in `directory`, checked to be the weights it was
    trained on; LmcoreError saying what is wrong otherwise."""
    base = (Path(directory) / section.get("base", "")).resolve()
    if not (base / "config.json").is_file() or not (base / WEIGHTS).is_file():
        raise LmcoreError(
            f"{directory}: this LoRA adapter's base model is missing (expected it at {base}); "
            "an adapter needs the model it was trained on"
        )
    if weights_digest(base) != section.get("base_sha256"):
        raise LmcoreError(
            f"{directory}: the base model at {base} is not the one this adapter was trained on "
            "(its weights changed)"
        )
    return base


def relocate(config: dict[str, Any], old_dir: str | Path, new_dir: str | Path) -> dict[str, Any]:
    """A LoRA checkpoint's config.json as it must read once the files move from `old_dir` to
    `new_dir` (the base stays where it is). Example: a run's checkpoint becoming a version."""
    section = config["lora"]
    base = (Path(old_dir) / section["base"]).resolve()
    return {**config, "lora": stored({**section, "base": str(base)}, new_dir)}


def peft_name(name: str, arch: str) -> str:
    """`blocks.3.attn.c_kv.lora_B.v` -> `base_model.model.model.layers.3.self_attn.v_proj.lora_B.weight`."""
    parts = name.split(".")
    layer, matrix, target = parts[1], parts[-2], parts[-1]
    return f"base_model.model.model.layers.{layer}.{hf_matrix(target, arch)}.{matrix}.weight"


def peft_files(checkpoint: str | Path) -> list[ExportFile]:
    """adapter_config.json and adapter_model.safetensors of a LoRA checkpoint, as streams."""
    directory = find_checkpoint(checkpoint)
    config = read_config(directory)
    section = config.get("lora")
    if not section:
        raise LmcoreError(f"{checkpoint}: not a LoRA checkpoint (no adapter to export)")
    arch = family(GPTConfig(**config["model"]))
    tensors = read_header(directory / ADAPTER)
    out = [OutTensor(peft_name(name, arch), info.dtype, info.shape, [info.data])
           for name, info in sorted(tensors.items())]  # fmt: skip
    lora = LoRAConfig.from_dict(section)
    adapter_config = {
        "peft_type": "LORA", "task_type": "CAUSAL_LM", "base_model_name_or_path": None,
        "r": lora.r, "lora_alpha": lora.alpha, "lora_dropout": lora.dropout,
        "target_modules": sorted(hf_matrix(t, arch).split(".")[-1] for t in lora.targets or []),
        "bias": "none", "fan_in_fan_out": False, "use_rslora": False, "use_dora": False,
        "init_lora_weights": True, "modules_to_save": None, "inference_mode": True,
    }  # fmt: skip
    text = json.dumps(adapter_config, indent=2).encode()
    return [ExportFile("adapter_config.json", lambda: iter([text])),
            ExportFile("adapter_model.safetensors", lambda: iter_file(out, {"format": "pt"}))]  # fmt: skip


def export_peft(checkpoint: str | Path, out: str | Path) -> dict[str, Any]:
    """Write the PEFT adapter directory of a LoRA checkpoint to `out`."""
    return write_dir(peft_files(checkpoint), out)


def is_lora(checkpoint: str | Path) -> bool:
    """Whether the checkpoint (or run) directory holds a LoRA adapter rather than a model."""
    return bool(read_config(checkpoint).get("lora"))
