"""`UserLimits`: an administrator's per-user overrides of the limits in settings.

A blank field takes the setting (webapp/settings.py, "Per-user limits"); 0 means no limit.
Staff have no limits whatever this says (webapp/limits/policy.py).
"""

from __future__ import annotations

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
