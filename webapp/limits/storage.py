"""What a user's files take on disk, object by object, against their storage quota.

Every model that owns files says which and how much (`FileOwner`, webapp/web/files.py): corpora
and conversation datasets, tokenizer runs, training and fine-tuning runs (encoded data and
checkpoints), evaluations, evaluation task files, model versions, and staff's model uploads in
progress. An upload counts at its declared size from its first request, so parallel uploads
cannot overshoot; directories are walked, cached while they cannot change.

A running training run that takes its owner past the quota is stopped at its next
checkpoint (`checkpoint_problem`, asked by the gpu_train worker): the checkpoint is kept, the
run ends `cancelled` saying why, and Resume continues it once there is room. Uploads and
launches are refused while over quota, until the user deletes something.
"""

from __future__ import annotations

from typing import Any

from webapp.limits.models import ASK, Limits, limits_for
from webapp.web.files import StorageEntry, file_owners
from webapp.web.sizes import format_sizes

# A training run's files, roughly: fp32 weights and AdamW's two moments in its checkpoint,
# and the weights again in the version it registers (encoded data comes on top).
TRAINING_BYTES_PER_PARAM = 16


def items(user: Any) -> list[StorageEntry]:
    """Everything of `user`'s that takes space, largest first."""
    found = [row.storage_entry() for model in file_owners() for row in model.stored_by(user)]
    return sorted((entry for entry in found if entry.bytes), key=lambda e: e.bytes, reverse=True)


def used_bytes(user: Any) -> int:
    return sum(entry.bytes for entry in items(user))


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
