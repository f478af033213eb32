"""Registering a finished run's checkpoint as a new ModelVersion."""

from __future__ import annotations

import shutil
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import Max

from webapp.registry.models import ModelVersion

KEPT_FILES = ("model.safetensors", "config.json", "tokenizer.json")


def do_register_version(run: Any, metrics: dict[str, Any]) -> ModelVersion:
    """Copy the run's checkpoint into a new version numbered after the name's last one."""
    for _ in range(5):  # two runs of one name finishing at once: retry on the unique number
        try:
            with transaction.atomic():
                last = ModelVersion.objects.filter(owner=run.owner, name=run.name).aggregate(
                    n=Max("version")
                )["n"]
                version = ModelVersion.objects.create(
                    owner=run.owner, name=run.name, version=(last or 0) + 1, run=run,
                    tokenizer=run.tokenizer, params=metrics.get("params") or run.params or 0,
                    step=metrics.get("step", 0), val_loss=metrics.get("val_loss"),
                    val_bpb=metrics.get("val_bpb"), metrics=metrics,
                )  # fmt: skip
                _copy_files(run, version)
            return version
        except IntegrityError:
            continue
    raise RuntimeError(f"could not number a new version of {run.name}")


def _copy_files(run: Any, version: ModelVersion) -> None:
    target = version.directory
    target.mkdir(parents=True, exist_ok=True)
    for name in KEPT_FILES:
        shutil.copy2(run.checkpoint_dir / name, target / name)
