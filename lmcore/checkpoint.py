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

A LoRA checkpoint (lmcore/adapters.py) has adapter.safetensors instead of model.safetensors
(the adapter only, its optimizer state only) and a "lora" object in config.json naming its
base checkpoint. Loading reads the base, puts the adapter on it and, by default, merges it
(lmcore/lora.py): every reader (sample, chat, the web app's workers, anatomy) gets a plain
GPT that costs what the base costs per token; `merge_adapter=False` keeps it applied (resume).

A run directory (`python -m lmcore train --out RUN`) keeps its latest checkpoint in
RUN/checkpoint/ next to RUN/data/; every function here accepts either path. The file names,
the format check and `read_config` live in lmcore/checkpoint_files.py (no torch there).

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
from lmcore import adapters, lora
from lmcore.checkpoint_files import (
    CARRIED_KEYS,
    CONFIG,
    FORMAT,
    FORMAT_VERSION,
    OPTIMIZER,
    TOKENIZER,
    WEIGHTS,
    find_checkpoint,
    read_config,
)
from lmcore.config import LoRAConfig
from lmcore.errors import LmcoreError
from lmcore.model import GPT, GPTConfig, rotary_tables
from lmcore.tokenizer import Tokenizer


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
    lora_section: dict[str, Any] | None = None,
) -> Path:
    """Write a checkpoint to `directory` atomically, replacing any previous one there.

    `carried`: CARRIED_KEYS values kept from the checkpoint this one was trained from. A model
    carrying a LoRA adapter saves the adapter only, with `lora_section` (made by
    lmcore.adapters.base_reference) naming its base."""
    directory = Path(directory)
    if lora.has_adapter(model) != (lora_section is not None):
        raise LmcoreError("a LoRA checkpoint needs both the adapter and its base reference")
    if tokenizer.vocab_size != model.config.vocab_size:
        raise LmcoreError(
            f"tokenizer has {tokenizer.vocab_size} tokens but the model {model.config.vocab_size}"
        )
    directory.parent.mkdir(parents=True, exist_ok=True)
    for stale in directory.parent.glob(f".{directory.name}.tmp-*"):
        shutil.rmtree(stale, ignore_errors=True)  # left by a crash mid-write
    tmp = Path(tempfile.mkdtemp(prefix=f".{directory.name}.tmp-", dir=directory.parent))
    try:
        if lora_section is None:
            save_file(_weights(model), tmp / WEIGHTS, metadata={"format": FORMAT})
        else:
            save_file(
                lora.adapter_state(model), tmp / adapters.ADAPTER, metadata={"format": FORMAT}
            )
        (tmp / TOKENIZER).write_text(tokenizer.to_str(), encoding="utf-8")
        if optimizer is not None:
            torch.save({"optimizer": optimizer.state_dict()}, tmp / OPTIMIZER)
        config = {
            "format": FORMAT, "format_version": FORMAT_VERSION,
            "model": model.config.to_dict(), "train": train_config or {}, "step": step,
            "metrics": metrics or {}, "state": state or {},
            "params": model.num_params() - lora.num_adapter_params(model),
            "lmcore_version": lmcore.__version__,
            **{k: v for k, v in (carried or {}).items() if k in CARRIED_KEYS},
        }  # fmt: skip
        if lora_section is not None:
            config["lora"] = adapters.stored(lora_section, directory)
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


def load_checkpoint(
    path: str | Path, device: str | torch.device = "cpu", merge_adapter: bool = True
) -> Checkpoint:
    """Load weights, config and tokenizer; strict about keys, shapes and vocabulary size.

    The model comes back in eval mode. For resume, read the optimizer with `load_optimizer`.
    A LoRA checkpoint comes back merged into its base, or with the adapter applied.
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
    if config.get("lora"):
        model = _adapted_base(directory, config, model_config, tokenizer, merge_adapter)
    else:
        model = _model_with_weights(model_config, directory / WEIGHTS)
    model.to(device).eval()
    return Checkpoint(
        directory=directory, model=model, tokenizer=tokenizer, model_config=model_config,
        train_config=config.get("train", {}), step=int(config.get("step", 0)),
        metrics=config.get("metrics", {}), state=config.get("state", {}), config=config,
    )  # fmt: skip


def _adapted_base(directory, config, model_config, tokenizer, merge_adapter) -> GPT:
    """The base checkpoint's model with this directory's adapter on it (merged or not)."""
    base = load_checkpoint(adapters.base_directory(directory, config["lora"]), "cpu")
    if base.model_config != model_config or base.tokenizer.to_str() != tokenizer.to_str():
        raise LmcoreError(f"{directory}: the adapter's model or tokenizer differs from its base's")
    with torch.random.fork_rng(devices=[]):  # the fresh A is overwritten: leave the RNG be
        lora.add_adapter(base.model, LoRAConfig.from_dict(config["lora"]))
    try:
        tensors = load_file(directory / adapters.ADAPTER)
    except (OSError, SafetensorError) as exc:
        raise LmcoreError(f"{directory / adapters.ADAPTER}: unreadable adapter ({exc})") from exc
    lora.load_adapter(base.model, tensors)
    if merge_adapter:
        lora.merge(base.model)
    return base.model


def merge_checkpoint(path: str | Path, out: str | Path) -> Path:
    """Write the LoRA checkpoint at `path` merged into its base, as a plain checkpoint at
    `out` (same config, metrics and tokenizer; no optimizer state, no reference to the base)."""
    if not read_config(path).get("lora"):
        raise LmcoreError(f"{path}: not a LoRA checkpoint: there is nothing to merge")
    out = Path(out)
    if out.exists() and any(out.iterdir()):
        raise LmcoreError(f"{out}: exists and is not empty")
    ck = load_checkpoint(path, "cpu")
    return save_checkpoint(out, ck.model, ck.tokenizer, train_config=ck.train_config,
                           step=ck.step, metrics=ck.metrics, state=ck.state)  # fmt: skip


def _model_with_weights(config: GPTConfig, file: Path) -> GPT:
    """A GPT holding the file's weights, built without drawing random ones first: made on the
    meta device (no memory, no init), then given the loaded tensors. A load then costs the
    weights once, not twice, and no time initialising what it throws away."""
    with torch.device("meta"):
        model = GPT(config)
    _load_weights(model, file, assign=True)
    if config.tie_weights:
        model.lm_head.weight = model.wte.weight  # assign replaced the embedding's Parameter
    model.cos, model.sin = rotary_tables(config)  # derived buffers, never stored
    return model


def _load_weights(model: GPT, file: Path, assign: bool = False) -> None:
    try:
        weights = load_file(file)
    except (OSError, SafetensorError) as exc:
        raise LmcoreError(f"{file}: unreadable weights ({exc})") from exc
    state = model.state_dict()
    expected = set(state) - ({"lm_head.weight"} if model.config.tie_weights else set())
    if set(weights) != expected:
        missing, extra = sorted(expected - set(weights)), sorted(set(weights) - expected)
        raise LmcoreError(
            f"{file}: weights do not fit the config (missing {missing}, extra {extra})"
        )
    if assign:  # the model's dtype, as copying into its parameters would give
        weights = {k: v.to(state[k].dtype) for k, v in weights.items()}
    try:
        # strict on the set compared above
        model.load_state_dict(weights, strict=False, assign=assign)
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
