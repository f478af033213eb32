"""`ModelVersion`: a trained model kept for use — numbered per (owner, name), with a status.

`candidate → production → archived`; at most one production version per (owner, name),
enforced by a partial unique constraint as well as by `promote()`. Each version owns a copy
of its checkpoint's weights, config and tokenizer (not the optimizer state), so resuming or
deleting the run never changes a version.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import models, transaction
from django.db.models import Q
from django.urls import reverse


class VersionStatus(models.TextChoices):
    CANDIDATE = "candidate", "Candidate"
    PRODUCTION = "production", "Production"
    ARCHIVED = "archived", "Archived"


class ModelVersionQuerySet(models.QuerySet):
    def for_user(self, user: Any) -> ModelVersionQuerySet:
        if not user.is_authenticated:
            return self.none()
        return self if user.is_staff else self.filter(owner=user)


class ModelVersion(models.Model):
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
    created_at = models.DateTimeField(auto_now_add=True)

    objects = ModelVersionQuerySet.as_manager()

    class Meta:
        ordering = ["name", "-version"]
        constraints = [
            models.UniqueConstraint(fields=["owner", "name", "version"], name="unique_version"),
            models.UniqueConstraint(
                fields=["owner", "name"],
                condition=Q(status="production"),
                name="one_production_per_name",
            ),  # fmt: skip
        ]

    def __str__(self) -> str:
        return f"{self.name} v{self.version}"

    def get_absolute_url(self) -> str:
        return reverse("registry:detail", args=[self.pk])

    @property
    def directory(self) -> Path:
        return (
            Path(settings.MEDIA_ROOT)
            / "models"
            / f"user-{self.owner_id}"
            / self.name
            / f"v{self.version}"
        )

    def promote(self) -> None:
        """Make this the production version of its name; the previous one becomes a candidate
        again (so rolling back is promoting it once more)."""
        with transaction.atomic():
            ModelVersion.objects.filter(
                owner_id=self.owner_id, name=self.name, status=VersionStatus.PRODUCTION
            ).exclude(pk=self.pk).update(status=VersionStatus.CANDIDATE)
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
        }  # fmt: skip
