"""Registering a finished run's checkpoint, or an imported model (a `transformers` directory
or a GGUF file), as a new ModelVersion; merging a LoRA version into a plain one."""

from __future__ import annotations

import json
import os
import shutil
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import validate_slug
from django.db import IntegrityError, transaction
from django.db.models import Max

from lmcore import adapters
from lmcore.checkpoint_files import read_config
from lmcore.errors import LmcoreError
from webapp.registry.models import ModelVersion

KEPT_FILES = ("model.safetensors", "config.json", "tokenizer.json")


def do_create_version(
    owner: Any, name: str, fill: Callable[[Path], None], **fields: Any
) -> ModelVersion:
    """Number, record and fill a new version of `name`: the one place a version's directory
    (under its storage key, docs/architecture.md "How data flows") is made.

    `fill(directory)` puts the files into the new, empty directory inside the transaction:
    when it raises, there is neither a row nor a directory.
    """
    for _ in range(5):  # two versions of one name made at once: retry on the unique number
        try:
            with transaction.atomic():
                last = ModelVersion.objects.filter(owner=owner, name=name).aggregate(
                    n=Max("version")
                )["n"]
                version = ModelVersion.objects.create(
                    owner=owner, name=name, version=(last or 0) + 1, **fields
                )
                version.directory.mkdir(parents=True)
                try:
                    fill(version.directory)
                except BaseException:
                    shutil.rmtree(version.directory, ignore_errors=True)
                    raise
            return version
        except IntegrityError:
            continue
    raise LmcoreError(f"could not number a new version of {name}")


def do_register_version(run: Any, metrics: dict[str, Any]) -> ModelVersion:
    """Copy the run's checkpoint into a new version numbered after the name's last one. A
    LoRA run's version keeps its adapter only, on its parent version's weights."""
    source = run.checkpoint_dir
    config = read_config(source)
    lora = config.get("lora")
    if lora and run.parent is None:
        raise LmcoreError(f"{run}: a LoRA adapter without its base version (deleted)")

    def copy_checkpoint(target: Path) -> None:
        if not lora:
            for name in KEPT_FILES:
                shutil.copy2(source / name, target / name)
            return
        for name in (adapters.ADAPTER, "tokenizer.json"):
            shutil.copy2(source / name, target / name)
        moved = adapters.relocate(config, source, target)
        (target / "config.json").write_text(json.dumps(moved, indent=2) + "\n", "utf-8")

    if lora:  # the version page's summary of the adapter
        metrics = {**metrics, "lora": {k: lora[k] for k in ("r", "alpha", "dropout", "targets")}}
    return do_create_version(
        run.owner, run.name, copy_checkpoint, run=run,
        tokenizer=run.tokenizer, params=metrics.get("params") or run.params or 0,
        step=metrics.get("step", 0), val_loss=metrics.get("val_loss"),
        val_bpb=metrics.get("val_bpb"), metrics=metrics,
        is_chat=run.is_finetune, parent=run.parent, base=run.parent if lora else None,
    )  # fmt: skip


def do_merge_version(version: ModelVersion) -> ModelVersion:
    """A plain version of the LoRA `version`'s name: its adapter folded into its base's
    weights (lmcore merge), numbered next, with `version` as its parent. Runs in a worker
    (torch); the outcome is kept in `version.metrics["merge"]` for its page."""
    from lmcore.checkpoint import merge_checkpoint

    staging = version.directory.parent / f".merge-{uuid.uuid4().hex}"
    try:
        merge_checkpoint(version.directory, staging)
        metrics = {k: v for k, v in version.metrics.items() if k not in ("lora", "merge")}
        merged = do_create_version(
            version.owner, version.name, lambda target: os.replace(staging, target),
            run=version.run, tokenizer=version.tokenizer, params=version.params,
            step=version.step, val_loss=version.val_loss, val_bpb=version.val_bpb,
            metrics={**metrics, "merged_from": version.pk}, is_chat=version.is_chat,
            parent=version,
        )  # fmt: skip
    except LmcoreError as exc:
        set_merge_state(version, {"status": "failed", "error": str(exc)})
        raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    set_merge_state(version, {"status": "done", "version": merged.pk})
    return merged


def set_merge_state(version: ModelVersion, state: dict[str, Any]) -> None:
    version.metrics = {**version.metrics, "merge": state}
    version.save(update_fields=["metrics"])


def do_import_version(owner: Any, name: str, source: Path) -> ModelVersion:
    """Import `source`, a `transformers` directory or a GGUF file, as a new version of `name`
    (lmcore/hf_import.py, lmcore/gguf_import.py; docs/architecture.md, "Hugging Face
    interop" and "GGUF"): the same checkpoint files either way.

    The conversion runs into a staging directory outside any transaction (it may take
    minutes for a large model); the row is created and the directory renamed into place in
    one short transaction. LmcoreError when refused: no row, no files. A model that came with
    a chat template is a chat version: it chats with that template (lmcore/chat_config.py).
    """
    from lmcore.gguf_import import import_gguf
    from lmcore.hf_import import import_hf

    try:
        validate_slug(name)
    except ValidationError:
        raise LmcoreError(
            f"name {name!r}: use letters, numbers, underscores or hyphens only"
        ) from None
    if len(name) > 100:
        raise LmcoreError("name: at most 100 characters")
    models = Path(settings.MEDIA_ROOT) / "models" / f"user-{owner.pk}"
    models.mkdir(parents=True, exist_ok=True)
    staging = models / f".import-{uuid.uuid4().hex}"
    try:
        convert = import_gguf if Path(source).is_file() else import_hf
        summary = convert(source, staging)
        imported = {"architecture": summary["architecture"], "source": Path(source).name}
        return do_create_version(
            owner, name, lambda target: os.replace(staging, target),
            params=summary["params"], step=0, metrics={"imported": imported},
            is_chat=summary["chat"],
        )  # fmt: skip
    finally:
        shutil.rmtree(staging, ignore_errors=True)
