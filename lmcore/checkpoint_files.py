"""A checkpoint directory's files and its config.json, read without torch.

lmcore/checkpoint.py writes and loads checkpoints (weights need torch); this module holds what
describes one on disk: the file names, the format and its version, finding the directory of
a checkpoint or run, and reading its config.json, format-checked. The exporters
(lmcore/hf_export.py, lmcore/gguf_export.py, lmcore/adapters.py) and the web process read a
checkpoint's config through `read_config` here, so they never import torch.

Example: `read_config("runs/shakespeare")["model"]["n_layer"]`
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from lmcore.config import CHECKPOINT_SUBDIR
from lmcore.errors import LmcoreError

FORMAT = "lmcore-checkpoint"
FORMAT_VERSION = 1
CARRIED_KEYS = ("chat_template", "generation_defaults", "hf")
WEIGHTS, CONFIG, TOKENIZER, OPTIMIZER = (
    "model.safetensors", "config.json", "tokenizer.json", "optimizer.pt",
)  # fmt: skip


def find_checkpoint(path: str | Path) -> Path:
    """The checkpoint directory for a checkpoint or run directory; LmcoreError if none."""
    path = Path(path)
    for candidate in (path, path / CHECKPOINT_SUBDIR):
        if (candidate / CONFIG).is_file():
            return candidate
        aside = sorted(candidate.parent.glob(f".{candidate.name}.old-*"))
        if not candidate.exists() and aside and (aside[-1] / CONFIG).is_file():
            return aside[-1]  # a crash came between the two renames of save_checkpoint
    raise LmcoreError(f"{path}: no checkpoint here (expected {CONFIG} or {CHECKPOINT_SUBDIR}/)")


def read_config(path: str | Path) -> dict[str, Any]:
    """config.json of a checkpoint (or run) directory, format-checked."""
    directory = find_checkpoint(path)
    try:
        config = json.loads((directory / CONFIG).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise LmcoreError(f"{directory / CONFIG}: unreadable ({exc})") from exc
    if config.get("format") != FORMAT or config.get("format_version") != FORMAT_VERSION:
        raise LmcoreError(
            f"{directory}: unsupported checkpoint format "
            f"{config.get('format')!r} version {config.get('format_version')!r}"
        )
    return config
