"""Registering a finished run's checkpoint, or an imported model (a `transformers` directory
or a GGUF file), as a new ModelVersion."""

from __future__ import annotations

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
    """Copy the run's checkpoint into a new version numbered after the name's last one."""

    def copy_checkpoint(target: Path) -> None:
        for name in KEPT_FILES:
            shutil.copy2(run.checkpoint_dir / name, target / name)

    return do_create_version(
        run.owner, run.name, copy_checkpoint, run=run,
        tokenizer=run.tokenizer, params=metrics.get("params") or run.params or 0,
        step=metrics.get("step", 0), val_loss=metrics.get("val_loss"),
        val_bpb=metrics.get("val_bpb"), metrics=metrics,
        is_chat=run.is_finetune, parent=run.parent,
    )  # fmt: skip


def do_import_version(owner: Any, name: str, source: Path) -> ModelVersion:
    """Import `source`, a `transformers` directory or a GGUF file, as a new version of `name`
    (lmcore/hf_import.py, lmcore/gguf_import.py; docs/architecture.md, "Hugging Face
    interop" and "GGUF"): the same checkpoint files either way.

    The conversion runs into a staging directory outside any transaction (it may take
    minutes for a large model); the row is created and the directory renamed into place in
    one short transaction. LmcoreError when refused: no row, no files.
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
        )  # fmt: skip
    finally:
        shutil.rmtree(staging, ignore_errors=True)
