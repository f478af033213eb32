"""A saved playground conversation: what the page needs to show it again.

`messages` depends on `mode`. Chat: the history, `[{"role": "system"|"user"|"assistant",
"content"}]`. Completion: the prompt, then one entry per column of the last answer (two when
side by side), with the token records that colour it and feed the inspector:
`[{"role": "prompt", "content"}, {"role": "completion", "title", "content", "tokens": [...],
"stats": {...}, "reason"}]`. transcripts.py checks and bounds both shapes before a save.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import models


class ConversationMode(models.TextChoices):
    COMPLETION = "completion", "Completion"
    CHAT = "chat", "Chat"


class ConversationQuerySet(models.QuerySet):
    def for_user(self, user: Any) -> ConversationQuerySet:
        """Only ever the user's own: conversations are private, staff included."""
        if not user.is_authenticated:
            return self.none()
        return self.filter(owner=user)


class Conversation(models.Model):
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="conversations"
    )
    title = models.CharField(max_length=200)
    mode = models.CharField(max_length=16, choices=ConversationMode.choices)
    model_version = models.ForeignKey(
        "registry.ModelVersion", on_delete=models.SET_NULL, null=True, blank=True,
        related_name="conversations",
    )  # fmt: skip
    messages = models.JSONField(default=list, blank=True)
    params = models.JSONField(default=dict, blank=True)  # the sampling settings, as sent
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = ConversationQuerySet.as_manager()

    class Meta:
        ordering = ["-updated_at", "-pk"]
        indexes = [models.Index(fields=["owner", "-updated_at"], name="conversation_recent")]

    def __str__(self) -> str:
        return self.title

    def summary_dict(self) -> dict[str, Any]:
        return {
            "id": self.pk,
            "title": self.title,
            "mode": self.mode,
            "model_version": self.model_version_id,
            "updated_at": self.updated_at.isoformat(),
        }

    def to_dict(self) -> dict[str, Any]:
        return {**self.summary_dict(), "messages": self.messages, "params": self.params}

    def replace(self, fields: dict[str, Any]) -> None:
        """Overwrite with a checked transcript (transcripts.clean_conversation)."""
        for name, value in fields.items():
            setattr(self, name, value)
        self.save(update_fields=[*fields, "updated_at"])
