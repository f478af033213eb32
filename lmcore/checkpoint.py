"""Checkpoints: a directory of boring files, written atomically, loaded strictly.

Layout:
    model.safetensors  weights (no pickle); a tied output layer is stored once, as wte.weight
    config.json        {"format", "format_version", "model", "train", "step", "metrics",
                        "state", "params", "lmcore_version"}, and what a version carries
                       from where it came (CARRIED_KEYS: its chat template and generation
                       defaults, lmcore/chat_config.py; an import's `hf` record)
    tokenizer.json     the tokenizer the model was trained with (vocab must equal the model's)
    optimizer.pt       optional, for resume: the optimizer's state (AdamW, or Muon + AdamW:
                       lmcore/optim.py); read with weights_only=True

A run directory (`python -m lmcore train --out RUN`) keeps its latest checkpoint in
RUN/checkpoint/ next to RUN/data/; every function here accepts either path.

Writes go to a sibling temp directory that is renamed into place; replacing an older
checkpoint takes two renames (old aside, new in), and a reader that finds only the set-aside
copy after a crash between them uses it. So a crash never leaves a half checkpoint: the
trade-off is briefly holding two copies on disk.

Resume needs no RNG state: training draws batches and dropout masks from generators seeded
by (seed, rank, step), so `state` holds just the step count, elapsed seconds and tokens seen.
"""

from __future__ import annotations

import json
import os
import pickle
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

import lmcore
from lmcore.config import CHECKPOINT_SUBDIR
from lmcore.errors import LmcoreError
from lmcore.model import GPT, GPTConfig
from lmcore.tokenizer import Tokenizer

FORMAT = "lmcore-checkpoint"
FORMAT_VERSION = 1
CARRIED_KEYS = ("chat_template", "generation_defaults", "hf")
WEIGHTS, CONFIG, TOKENIZER, OPTIMIZER = (
    "model.safetensors", "config.json", "tokenizer.json", "optimizer.pt",
)  # fmt: skip


@dataclass
class Checkpoint:
    directory: Path
    model: GPT  # in eval mode, on the requested device
    tokenizer: Tokenizer
    model_config: GPTConfig
    train_config: dict[str, Any] = field(default_factory=dict)
    step: int = 0
    metrics: dict[str, Any] = field(default_factory=dict)
    state: dict[str, Any] = field(default_factory=dict)  # elapsed_seconds, tokens_seen
    config: dict[str, Any] = field(default_factory=dict)  # config.json as read (chat_config.py)


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


def save_checkpoint(
    directory: str | Path,
    model: GPT,
    tokenizer: Tokenizer,
    *,
    train_config: dict[str, Any] | None = None,
    step: int = 0,
    metrics: dict[str, Any] | None = None,
    state: dict[str, Any] | None = None,
    optimizer: torch.optim.Optimizer | None = None,
    carried: dict[str, Any] | None = None,
) -> Path:
    """Write a checkpoint to `directory` atomically, replacing any previous one there.

    `carried`: CARRIED_KEYS values kept from the checkpoint this one was trained from.
    """
    directory = Path(directory)
    if tokenizer.vocab_size != model.config.vocab_size:
        raise LmcoreError(
            f"tokenizer has {tokenizer.vocab_size} tokens but the model {model.config.vocab_size}"
        )
    directory.parent.mkdir(parents=True, exist_ok=True)
    for stale in directory.parent.glob(f".{directory.name}.tmp-*"):
        shutil.rmtree(stale, ignore_errors=True)  # left by a crash mid-write
    tmp = Path(tempfile.mkdtemp(prefix=f".{directory.name}.tmp-", dir=directory.parent))
    try:
        save_file(_weights(model), tmp / WEIGHTS, metadata={"format": FORMAT})
        (tmp / TOKENIZER).write_text(tokenizer.to_str(), encoding="utf-8")
        if optimizer is not None:
            torch.save({"optimizer": optimizer.state_dict()}, tmp / OPTIMIZER)
        config = {
            "format": FORMAT, "format_version": FORMAT_VERSION,
            "model": model.config.to_dict(), "train": train_config or {}, "step": step,
            "metrics": metrics or {}, "state": state or {}, "params": model.num_params(),
            "lmcore_version": lmcore.__version__,
            **{k: v for k, v in (carried or {}).items() if k in CARRIED_KEYS},
        }  # fmt: skip
        (tmp / CONFIG).write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")
        for item in (tmp, *tmp.iterdir()):  # mkdtemp makes 0700: let other workers read it
            item.chmod(0o755 if item.is_dir() else 0o644)
        _swap_in(tmp, directory)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return directory


def _weights(model: GPT) -> dict[str, torch.Tensor]:
    state = model.state_dict()
    if model.config.tie_weights:
        del state["lm_head.weight"]  # the same tensor as wte.weight; safetensors refuses aliases
    return {k: v.detach().to("cpu").contiguous() for k, v in state.items()}


def _swap_in(tmp: Path, directory: Path) -> None:
    if not directory.exists():
        os.rename(tmp, directory)
        return
    aside = directory.parent / f".{directory.name}.old-{os.getpid()}"
    os.rename(directory, aside)
    os.rename(tmp, directory)
    shutil.rmtree(aside, ignore_errors=True)


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


def load_checkpoint(path: str | Path, device: str | torch.device = "cpu") -> Checkpoint:
    """Load weights, config and tokenizer; strict about keys, shapes and vocabulary size.

    The model comes back in eval mode. For resume, read the optimizer with `load_optimizer`.
    """
    directory = find_checkpoint(path)
    config = read_config(directory)
    try:
        model_config = GPTConfig(**config["model"])
    except (TypeError, ValueError) as exc:
        raise LmcoreError(f"{directory}: bad model config ({exc})") from exc
    tokenizer = Tokenizer.load(directory / TOKENIZER)
    if tokenizer.vocab_size != model_config.vocab_size:
        raise LmcoreError(
            f"{directory}: tokenizer has {tokenizer.vocab_size} tokens but the model "
            f"expects {model_config.vocab_size}"
        )
    model = GPT(model_config)
    _load_weights(model, directory / WEIGHTS)
    model.to(device).eval()
    return Checkpoint(
        directory=directory, model=model, tokenizer=tokenizer, model_config=model_config,
        train_config=config.get("train", {}), step=int(config.get("step", 0)),
        metrics=config.get("metrics", {}), state=config.get("state", {}), config=config,
    )  # fmt: skip


def _load_weights(model: GPT, file: Path) -> None:
    try:
        weights = load_file(file)
    except (OSError, SafetensorError) as exc:
        raise LmcoreError(f"{file}: unreadable weights ({exc})") from exc
    expected = set(model.state_dict()) - ({"lm_head.weight"} if model.config.tie_weights else set())
    if set(weights) != expected:
        missing, extra = sorted(expected - set(weights)), sorted(set(weights) - expected)
        raise LmcoreError(
            f"{file}: weights do not fit the config (missing {missing}, extra {extra})"
        )
    try:
        model.load_state_dict(weights, strict=False)  # strict on the set compared above
    except RuntimeError as exc:  # shape mismatches
        raise LmcoreError(
            f"{file}: weights do not fit the config ({str(exc).splitlines()[-1].strip()})"
        ) from None


def load_optimizer(path: str | Path, optimizer: torch.optim.Optimizer) -> None:
    """Restore optimizer state written by save_checkpoint (never unpickles arbitrary objects)."""
    file = find_checkpoint(path) / OPTIMIZER
    if not file.is_file():
        raise LmcoreError(f"{file.parent}: no optimizer state to resume from")
    try:
        saved = torch.load(file, map_location="cpu", weights_only=True)
        optimizer.load_state_dict(saved["optimizer"])
    except (OSError, RuntimeError, KeyError, ValueError, pickle.UnpicklingError) as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise LmcoreError(f"{file}: cannot restore optimizer state ({reason})") from exc
