"""`ModelVersion`: a trained model kept for use — numbered per (owner, name), with a status.

`candidate → production → archived`; at most one production version per (owner, name) and
kind, base or chat (docs/architecture.md, "Sharing"): a name's chat fine-tune and its base
can both be in production, and staff's production versions are what other users may use.
Enforced by a partial unique constraint as well as by `promote()`. Each version owns a copy
of its checkpoint's weights, config and tokenizer (not the optimizer state), so resuming or
deleting the run never changes a version. Its files live under a server-made `storage_key`,
never its (editable) name: a rename keeps them, and no name can point outside MEDIA_ROOT.
"""

from __future__ import annotations

from functools import cached_property
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import models, transaction
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone

from lmcore.checkpoint_files import read_config
from lmcore.errors import LmcoreError
from webapp.jobs.models import new_storage_key
from webapp.uploads.chunked import ChunkedUpload
from webapp.web.files import FileOwner, StorageEntry


class VersionStatus(models.TextChoices):
    CANDIDATE = "candidate", "Candidate"
    PRODUCTION = "production", "Production"
    ARCHIVED = "archived", "Archived"


class ModelVersionQuerySet(models.QuerySet):
    def for_user(self, user: Any) -> ModelVersionQuerySet:
        if not user.is_authenticated:
            return self.none()
        return self if user.is_staff else self.filter(owner=user)


class ModelVersion(FileOwner, models.Model):
    noun = "model version"
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="model_versions"
    )
    name = models.CharField(max_length=100)
    version = models.PositiveIntegerField()
    status = models.CharField(
        max_length=16, choices=VersionStatus.choices, default=VersionStatus.CANDIDATE
    )
    run = models.ForeignKey(
        "training.TrainingRun", on_delete=models.SET_NULL, null=True, related_name="versions"
    )
    tokenizer = models.ForeignKey(
        "tokenization.TokenizerRun", on_delete=models.SET_NULL, null=True, related_name="versions"
    )
    params = models.BigIntegerField()
    step = models.PositiveIntegerField()
    val_loss = models.FloatField(null=True)
    val_bpb = models.FloatField(null=True)
    metrics = models.JSONField(default=dict, blank=True)
    # A chat model: fine-tuned on conversations (lmcore/finetune.py) from `parent`, or
    # imported with its own chat template (lmcore/chat_config.py): it chats with its template.
    is_chat = models.BooleanField(default=False)
    parent = models.ForeignKey(
        "self", on_delete=models.SET_NULL, null=True, blank=True, related_name="children"
    )
    # A LoRA version (lmcore/adapters.py) stores an adapter only, on the weights of `base`
    # (its parent): RESTRICT, so that a base is not deleted under its adapters (the deletion
    # plan says which to merge or delete first), while a user deleted with both takes both.
    base = models.ForeignKey(
        "self", on_delete=models.RESTRICT, null=True, blank=True, related_name="adapters"
    )
    storage_key = models.CharField(
        max_length=32, unique=True, default=new_storage_key, editable=False
    )
    created_at = models.DateTimeField(auto_now_add=True)

    objects = ModelVersionQuerySet.as_manager()

    class Meta:
        ordering = ["name", "-version"]
        constraints = [
            models.UniqueConstraint(fields=["owner", "name", "version"], name="unique_version"),
            models.UniqueConstraint(
                fields=["owner", "name", "is_chat"],
                condition=Q(status="production"),
                name="one_production_per_name_and_kind",
            ),  # fmt: skip
        ]

    def __str__(self) -> str:
        return f"{self.name} v{self.version}"

    def get_absolute_url(self) -> str:
        return reverse("registry:detail", args=[self.pk])

    @property
    def directory(self) -> Path:
        """Made and filled only by webapp.registry.actions.do_create_version."""
        return Path(settings.MEDIA_ROOT) / "models" / f"user-{self.owner_id}" / self.storage_key

    def owned_paths(self) -> list[Path]:
        return [self.directory]

    def files_state(self) -> str | None:
        return "written once"  # inside the transaction that creates it

    @cached_property
    def checkpoint_config(self) -> dict[str, Any]:
        """Its checkpoint's config.json (lmcore's reader), {} when that cannot be read (the
        worker reports a version whose files are gone)."""
        try:
            return read_config(self.directory)
        except LmcoreError:
            return {}

    @property
    def context(self) -> int | None:
        """Tokens the model attends over (None when its config cannot be read)."""
        try:
            return int(self.checkpoint_config["model"]["context"])
        except (KeyError, TypeError, ValueError):
            return None

    @property
    def sampling_defaults(self) -> dict[str, Any]:
        """The model's own sampling defaults (SamplingParams fields, lmcore/chat_config.py):
        what its generation_config.json set; the API and the playground start from them."""
        from lmcore.chat_config import generation_defaults

        return generation_defaults(self.checkpoint_config)

    @property
    def is_lora(self) -> bool:
        return self.base_id is not None

    @property
    def kept_files(self) -> tuple[str, ...]:
        """The files of its directory: the weights (or the adapter), config and tokenizer."""
        weights = "adapter.safetensors" if self.is_lora else "model.safetensors"
        return (weights, "config.json", "tokenizer.json")

    def promote(self) -> None:
        """Make this the production version of its name and kind (base or chat); the previous
        one of that kind becomes a candidate again (so rolling back is promoting it once more)."""
        with transaction.atomic():
            ModelVersion.objects.filter(
                owner_id=self.owner_id, name=self.name, is_chat=self.is_chat,
                status=VersionStatus.PRODUCTION,
            ).exclude(pk=self.pk).update(status=VersionStatus.CANDIDATE)  # fmt: skip
            self.status = VersionStatus.PRODUCTION
            self.save(update_fields=["status"])

    def archive(self) -> None:
        self.status = VersionStatus.ARCHIVED
        self.save(update_fields=["status"])

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.pk, "name": self.name, "version": self.version, "status": self.status,
            "params": self.params, "step": self.step, "val_loss": self.val_loss,
            "val_bpb": self.val_bpb, "run": self.run_id, "created_at": self.created_at.isoformat(),
            "chat": self.is_chat, "parent": self.parent_id, "lora_base": self.base_id,
        }  # fmt: skip


class UploadStatus(models.TextChoices):
    UPLOADING = "uploading", "Uploading"
    IMPORTING = "importing", "Importing"
    IMPORTED = "imported", "Imported"
    REJECTED = "rejected", "Rejected"


STALE_IMPORT = (
    "The import's worker stopped reporting (crashed or was killed); upload the zip again."
)


class ModelUpload(ChunkedUpload):
    """A staff user's zip of a `transformers` model, or GGUF file, uploaded in chunks
    (webapp/uploads/chunked.py), then imported by a cpu task into a new ModelVersion of `name`.

    `uploading → importing → imported | rejected`; the file and its unpacked copy are deleted
    once the import ends either way. A rejected upload keeps its row with the reason.
    """

    RECEIVED = UploadStatus.IMPORTING  # the last chunk queues its import

    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="model_uploads"
    )
    name = models.CharField(max_length=100, help_text="The model name the version joins.")
    filename = models.CharField(max_length=255, help_text="As uploaded; a label.")
    status = models.CharField(
        max_length=16, choices=UploadStatus.choices, default=UploadStatus.UPLOADING
    )
    size_bytes = models.BigIntegerField()
    fingerprint = models.CharField(max_length=300, blank=True)
    version = models.ForeignKey(ModelVersion, null=True, blank=True, on_delete=models.SET_NULL)

    progress = 0.0  # JobReporter reads it; an import reports no fraction
    noun = "model upload"

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.filename} → {self.name}"

    @property
    def directory(self) -> Path:
        return Path(settings.MEDIA_ROOT) / "model-uploads" / f"user-{self.owner_id}"

    @property
    def is_gguf(self) -> bool:
        return self.filename.lower().endswith(".gguf")

    @property
    def upload_path(self) -> Path:
        return self.directory / f"{self.storage_key}.{'gguf' if self.is_gguf else 'zip'}.part"

    @property
    def unpack_dir(self) -> Path:
        return self.directory / f"{self.storage_key}.unpacked"

    # --- its files (webapp/web/files.py): counted at their full size until the import ends --------
    def owned_paths(self) -> list[Path]:
        return [self.upload_path, self.unpack_dir]

    @classmethod
    def stored_by(cls, user: Any) -> models.QuerySet:
        holding = (UploadStatus.UPLOADING, UploadStatus.IMPORTING)
        return cls.objects.filter(owner_id=user.pk, status__in=holding)

    def storage_entry(self) -> StorageEntry:
        note = f"{self.get_status_display()}: reserved at its full size"
        return StorageEntry(self.noun.capitalize(), self.filename, None, self.stored_bytes(), note)

    # --- transitions after the upload's (webapp/uploads/chunked.py): True when this call made it happen
    def start_import(self) -> bool:
        """Claim the import (one worker only, even if the task was delivered twice)."""
        where = {"status": UploadStatus.IMPORTING, "heartbeat_at": None}
        return self._transition(where, heartbeat_at=timezone.now())

    def beat(self, progress: float | None = None) -> bool:
        return self._transition({"status": UploadStatus.IMPORTING}, heartbeat_at=timezone.now())

    def mark_imported(self, version: ModelVersion) -> bool:
        where = {"status": UploadStatus.IMPORTING}
        return self._transition(where, status=UploadStatus.IMPORTED, version=version)

    @classmethod
    def sweep_stale(cls, cutoff: Any) -> int:
        """Reject imports whose worker stopped beating, deleting their bytes."""
        swept = 0
        for upload in cls.objects.filter(status=UploadStatus.IMPORTING, heartbeat_at__lt=cutoff):
            where = {"status": UploadStatus.IMPORTING, "heartbeat_at__lt": cutoff}
            if upload._transition(where, status=UploadStatus.REJECTED, error=STALE_IMPORT):
                upload.remove_files()
                swept += 1
        return swept

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.pk, "name": self.name, "filename": self.filename, "status": self.status,
            "status_label": self.get_status_display(), "error": self.error,
            "size_bytes": self.size_bytes, "received_bytes": self.received_bytes,
            "version_url": self.version.get_absolute_url() if self.version_id else None,
        }  # fmt: skip
