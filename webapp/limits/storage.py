"""What a user's files take on disk, object by object, against their storage quota.

Counted: corpora and conversation datasets, tokenizer runs, training and fine-tuning runs
(encoded data and checkpoints), model versions, and staff's model uploads in progress.
Sizes are apparent sizes (`st_size`, what `du --apparent-size -b` sums), read this way:

- a corpus: its row's `size_bytes`, written with its file: the stored text once ready; while
  it is uploaded or validated, its declared size, reserved from the first request so parallel
  uploads cannot overshoot;
- a run's or a version's directory: a walk (`os.scandir`, a handful of large files each).
  Directories that no longer change (finished runs, versions) are cached per process for
  `CACHE_S`, keyed by the state that would change them (a resumed run finishes again with a
  new `finished_at`); an active run's directory is walked each time.

A running training run that takes its owner past the quota is stopped at its next
checkpoint (`checkpoint_problem`, asked by the gpu_train worker): the checkpoint is kept, the
run ends `cancelled` saying why, and Resume continues it once there is room. Uploads and
launches are refused while over quota, until the user deletes something.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.core.cache import cache

from webapp.corpora.models import HOLDING_FILES, Corpus, CorpusStatus
from webapp.corpora.templatetags.corpora_format import format_sizes
from webapp.jobs.models import ACTIVE
from webapp.limits.policy import ASK, Limits, limits_for

CACHE_S = 600
# A training run's files, roughly: fp32 weights and AdamW's two moments in its checkpoint,
# and the weights again in the version it registers (encoded data comes on top).
TRAINING_BYTES_PER_PARAM = 16


@dataclass(frozen=True)
class Item:
    kind: str
    name: str
    url: str | None
    bytes: int
    note: str = ""


def directory_bytes(path: Path) -> int:
    """The apparent size of every file under `path` (0 when it does not exist)."""
    total, pending = 0, [str(path)]
    while pending:
        try:
            entries = os.scandir(pending.pop())
        except (FileNotFoundError, NotADirectoryError):
            continue
        with entries:
            for entry in entries:
                try:
                    if entry.is_dir(follow_symlinks=False):
                        pending.append(entry.path)
                    else:
                        total += entry.stat(follow_symlinks=False).st_size
                except FileNotFoundError:  # removed while we walked: it takes nothing now
                    continue
    return total


def cached_directory_bytes(path: Path, unchanging: str | None) -> int:
    """`directory_bytes`, cached while `unchanging` (a state of the owner row) is the same;
    None: the directory may be changing, walk it."""
    if unchanging is None:
        return directory_bytes(path)
    key = "bottega:du:" + hashlib.sha1(f"{path}|{unchanging}".encode()).hexdigest()
    size = cache.get(key)
    if size is None:
        size = directory_bytes(path)
        cache.set(key, size, CACHE_S)
    return size


def _run_state(run: Any) -> str | None:
    if run.status in ACTIVE or run.finished_at is None:
        return None
    return f"{run.status}:{run.finished_at.timestamp()}"


def _corpora(user: Any) -> Iterator[Item]:
    for corpus in Corpus.objects.filter(owner_id=user.pk, status__in=HOLDING_FILES):
        kind = "Conversation dataset" if corpus.is_conversations else "Corpus"
        if corpus.status == CorpusStatus.READY:
            yield Item(kind, corpus.name, corpus.get_absolute_url(), corpus.size_bytes)
        else:
            note = f"{corpus.get_status_display()}: reserved at its full size"
            yield Item(kind, corpus.name, corpus.get_absolute_url(), corpus.size_bytes, note)


def _runs(user: Any) -> Iterator[Item]:
    from webapp.tokenization.models import TokenizerRun
    from webapp.training.models import TrainingRun

    for model, kind in ((TokenizerRun, "Tokenizer"), (TrainingRun, "Training run")):
        for run in model.objects.filter(owner_id=user.pk):
            size = cached_directory_bytes(run.directory, _run_state(run))
            if not size:
                continue
            label = "Fine-tuning run" if getattr(run, "is_finetune", False) else kind
            url, note = run.get_absolute_url(), "running: growing" if run.is_active else ""
            if run.delete_requested:  # hidden from its owner; its files go once it stops
                url, note = None, "being deleted"
            yield Item(label, str(run) if model is TrainingRun else run.name, url, size, note)


def _models(user: Any) -> Iterator[Item]:
    from webapp.registry.models import ModelUpload, ModelVersion, UploadStatus

    for version in ModelVersion.objects.filter(owner_id=user.pk):
        size = cached_directory_bytes(version.directory, "version")  # written once, at creation
        yield Item("Model version", str(version), version.get_absolute_url(), size)
    holding = (UploadStatus.UPLOADING, UploadStatus.IMPORTING)
    for upload in ModelUpload.objects.filter(owner_id=user.pk, status__in=holding):
        note = f"{upload.get_status_display()}: reserved at its full size"
        yield Item("Model upload", upload.filename, None, upload.size_bytes, note)


def items(user: Any) -> list[Item]:
    """Everything of `user`'s that takes space, largest first."""
    found = [*_corpora(user), *_runs(user), *_models(user)]
    return sorted(found, key=lambda item: item.bytes, reverse=True)


def used_bytes(user: Any) -> int:
    return sum(item.bytes for item in items(user))


def over_quota_message(used: int, quota: int, what: str) -> str:
    used_shown, quota_shown = format_sizes(used, quota)
    return (
        f"{what}: you use {used_shown} of your {quota_shown} storage quota. Delete what you no "
        f"longer need (the Storage page lists it), or {ASK}."
    )


def launch_problem(user: Any, limits: Limits, extra_bytes: int = 0) -> str | None:
    """Why a job that may write about `extra_bytes` cannot start now, or None."""
    if limits.storage_bytes is None:
        return None
    used = used_bytes(user)
    if used >= limits.storage_bytes:
        return over_quota_message(used, limits.storage_bytes, "No new job while over quota")
    if extra_bytes and used + extra_bytes > limits.storage_bytes:
        (need,) = format_sizes(extra_bytes)
        return over_quota_message(
            used, limits.storage_bytes, f"This run's checkpoint and version need about {need}"
        )
    return None


def checkpoint_problem(user: Any, step: int) -> str | None:
    """Why a training run of `user` stops at its checkpoint of `step` (over quota), or None."""
    quota = limits_for(user).storage_bytes
    used = used_bytes(user) if quota is not None else 0
    if quota is None or used <= quota:
        return None
    stopped = f"Stopped at step {step}, whose checkpoint is kept, because the storage is full"
    return over_quota_message(used, quota, stopped) + " Then Resume continues from it."
