"""The files side of deletion: what each row owns on disk, and their removal after commit.

A `post_delete` receiver on every model that owns files queues their removal with
`transaction.on_commit`, so every way a row goes (the Delete pages, the admin, the corpus
upload API's cancel, a user deleted with everything they own) takes its files along, and a
transaction that rolls back removes nothing. docs/architecture.md, "Deletion".
"""

from __future__ import annotations

import logging
import shutil
from functools import partial
from pathlib import Path
from typing import Any

from django.db import transaction
from django.db.models import Model
from django.db.models.signals import post_delete

logger = logging.getLogger(__name__)


# --- what each object owns on disk ----------------------------------------------------------
def files_of(obj: Model) -> list[Path]:
    """The files and directories that belong to `obj` alone (never a shared folder)."""
    label = obj._meta.label
    if label == "corpora.Corpus":
        return [obj.upload_path, obj.rewrite_path, obj.path]  # type: ignore[attr-defined]
    if label == "registry.ModelUpload":
        return [obj.upload_path, obj.unpack_dir]  # type: ignore[attr-defined]
    if label in ("tokenization.TokenizerRun", "training.TrainingRun", "registry.ModelVersion",
                 "evaluation.EvaluationRun", "evaluation.EvalTask"):  # fmt: skip
        return [obj.directory]  # type: ignore[attr-defined]
    return []


FILE_OWNERS = (
    "corpora.Corpus",
    "tokenization.TokenizerRun",
    "training.TrainingRun",
    "registry.ModelVersion",
    "registry.ModelUpload",
    "evaluation.EvaluationRun",
    "evaluation.EvalTask",
)


def remove_paths(paths: list[Path]) -> list[Path]:
    """Remove each file or directory; return those still there (each failure is logged)."""
    left = []
    for path in paths:
        try:
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path)
            else:
                path.unlink(missing_ok=True)
        except OSError:
            logger.exception("could not remove %s", path)
            left.append(path)
    return left


def _remove_after_commit(sender: type[Model], instance: Model, using: str, **_: Any) -> None:
    transaction.on_commit(partial(remove_paths, files_of(instance)), using=using)


def connect_signals() -> None:
    """Called once from webapp.jobs' AppConfig.ready(): the file owners' `post_delete`."""
    from django.apps import apps

    for label in FILE_OWNERS:
        post_delete.connect(
            _remove_after_commit, sender=apps.get_model(label), dispatch_uid=f"files:{label}"
        )


class KeepActiveJobsAdmin:
    """ModelAdmin mixin for jobs: a queued or running one has no Delete in the admin (cancel it
    first, as on its page); the files of what is deleted go by the `post_delete` receiver."""

    def has_delete_permission(self, request: Any, obj: Any = None) -> bool:
        if obj is not None and obj.is_active:
            return False
        return super().has_delete_permission(request, obj)  # type: ignore[misc]

    def delete_queryset(self, request: Any, queryset: Any) -> None:
        from webapp.jobs.models import ACTIVE

        kept = queryset.filter(status__in=ACTIVE).count()
        super().delete_queryset(request, queryset.exclude(status__in=ACTIVE))  # type: ignore[misc]
        if kept:
            self.message_user(request, f"{kept} queued or running job(s) kept: cancel them first.",  # type: ignore[attr-defined]
                              level="warning")  # fmt: skip
