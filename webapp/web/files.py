"""What a row owns on disk: `FileOwner`, the one place that says which files are whose.

A model whose rows own files under MEDIA_ROOT mixes in `FileOwner` and says which paths are
its own (`owned_paths`) and how it shows on the Storage page (`storage_entry`). Everything
else loops over it: the Storage page and the quota sum `stored_bytes` of every file owner's
rows (webapp/limits/storage.py); deleting a row removes its `owned_paths` once the deletion
commits (webapp/deletion); a model removes its own files with `remove_files`. So a new kind
of file counts against the quota and goes with its row by mixing this in, and the three
cannot disagree about what a row owns. docs/architecture.md, "Deletion" and "Per-user limits".

Sizes are apparent sizes (`st_size`, what `du --apparent-size -b` sums). A directory is walked
(`os.scandir`, a handful of large files each); the walk of files that no longer change is
cached per process for `CACHE_S`, keyed by `files_state()`, a state of the row that changes
whenever they may (a resumed run finishes again with a new `finished_at`).
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from django.conf import settings
from django.core.cache import cache

if TYPE_CHECKING:
    from django.db.models import Model, QuerySet

logger = logging.getLogger(__name__)
CACHE_S = 600


@dataclass(frozen=True)
class StorageEntry:
    """One row of the Storage page."""

    kind: str  # "Tokenizer"
    name: str
    url: str | None  # None: no page to link (an upload, a run being deleted)
    bytes: int
    note: str = ""


class FileOwner:
    """Mixin for a model whose rows own files under MEDIA_ROOT (see the module docstring)."""

    noun: ClassVar[str]  # what the pages call one ("tokenizer"); a property where rows differ

    def owned_paths(self) -> list[Path]:
        """The files and directories that belong to this row alone (never a shared folder)."""
        raise NotImplementedError

    def files_state(self) -> str | None:
        """A key that changes whenever its files may have changed, so that their size can be
        cached while it holds; None (the default): they may be changing now."""
        return None

    def stored_bytes(self) -> int:
        """What its files take on disk now."""
        state = self.files_state()
        return sum(cached_bytes(path, state) for path in self.owned_paths())

    def storage_entry(self) -> StorageEntry:
        """Its row on the Storage page."""
        url = self.get_absolute_url()  # type: ignore[attr-defined]
        return StorageEntry(self.noun.capitalize(), str(self), url, self.stored_bytes())

    @classmethod
    def stored_by(cls, user: Any) -> QuerySet:
        """The rows of `user`'s whose files count against their quota."""
        return cls._default_manager.filter(owner_id=user.pk)  # type: ignore[attr-defined]

    def remove_files(self) -> list[Path]:
        """Remove its files now; return those still there (each failure is logged)."""
        return remove_paths(self.owned_paths())


def file_owners() -> list[type[Model]]:
    """Every concrete model that owns files, across installed apps."""
    from django.apps import apps

    return [m for m in apps.get_models() if issubclass(m, FileOwner)]


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


def path_bytes(path: Path) -> int:
    """The apparent size of a file, or of every file under a directory (0 when it is absent)."""
    if path.is_file():
        try:
            return path.stat().st_size
        except FileNotFoundError:  # removed meanwhile: it takes nothing now
            return 0
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


def cached_bytes(path: Path, unchanging: str | None) -> int:
    """`path_bytes`, cached while `unchanging` (a state of the owner row) is the same;
    None: the files may be changing, measure them."""
    if unchanging is None:
        return path_bytes(path)
    key = "bottega:du:" + hashlib.sha1(f"{path}|{unchanging}".encode()).hexdigest()
    size = cache.get(key)
    if size is None:
        size = path_bytes(path)
        cache.set(key, size, CACHE_S)
    return size


def missing_file_message(what: str, path: Path, redo: str) -> str:
    """What a page says when `what` (its file at `path`) is gone from MEDIA_ROOT: where it
    was, why it may be gone, and what to do (`redo`: how to make it again)."""
    where = path.relative_to(settings.MEDIA_ROOT)
    return (f"{what} is missing from the server's storage ({where} under MEDIA_ROOT): it was "
            "moved or deleted outside Bottega, or the storage is not mounted, so nothing can "
            f"read it. An administrator can put the file back from a backup; otherwise {redo}.")  # fmt: skip
