"""What one user's limits are: the settings, with an administrator's overrides (`UserLimits`).

A blank field takes the setting (webapp/settings.py, "Per-user limits"); 0 means no limit.
Staff have no limits whatever this says. `limits_for(user)` is what applies; the checks are
webapp/limits/policy.py (jobs, model size, time, devices) and storage.py (the quota).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import models


class UserLimits(models.Model):
    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="limits"
    )
    jobs = models.PositiveIntegerField(
        null=True, blank=True, help_text="Queued + running jobs at once. Blank: the default."
    )
    params = models.PositiveBigIntegerField(
        null=True, blank=True, help_text="Parameters of a model to train. Blank: the default."
    )
    minutes = models.PositiveIntegerField(
        null=True, blank=True, help_text="Training time per run, in minutes. Blank: the default."
    )
    devices = models.PositiveIntegerField(
        null=True, blank=True, help_text="Devices (processes) per run. Blank: the default."
    )
    storage_bytes = models.PositiveBigIntegerField(
        null=True, blank=True, help_text="Storage quota in bytes. Blank: the default."
    )

    class Meta:
        verbose_name = verbose_name_plural = "user limits"

    def __str__(self) -> str:
        return f"limits of {self.user}"


@dataclass(frozen=True)
class Limits:
    """One user's limits; None: no limit."""

    jobs: int | None = None
    params: int | None = None
    minutes: int | None = None
    devices: int | None = None
    storage_bytes: int | None = None

    @property
    def seconds(self) -> float | None:
        return self.minutes * 60.0 if self.minutes else None


UNLIMITED = Limits()
FIELDS = ("jobs", "params", "minutes", "devices", "storage_bytes")
ASK = "ask an administrator to raise it"


def defaults() -> dict[str, int]:
    return {
        "jobs": settings.USER_LIMIT_JOBS,
        "params": settings.USER_LIMIT_PARAMS,
        "minutes": settings.USER_LIMIT_MINUTES,
        "devices": settings.USER_LIMIT_DEVICES,
        "storage_bytes": settings.STORAGE_QUOTA_BYTES,
    }


def limits_for(user: Any) -> Limits:
    """`user`'s limits: staff none; else the settings, with the admin's overrides."""
    if getattr(user, "is_staff", False):
        return UNLIMITED
    values = defaults()
    override = UserLimits.objects.filter(user_id=user.pk).first()
    for name in FIELDS:
        if override is not None and getattr(override, name) is not None:
            values[name] = getattr(override, name)
    return Limits(**{name: value or None for name, value in values.items()})
