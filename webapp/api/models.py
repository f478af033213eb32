"""`ApiKey`: a secret that lets a program use the OpenAI-compatible API as its user.

A key is `bt-` + 40 random URL-safe characters (240 bits), shown once when it is made. Only its
SHA-256 is stored, with the first 11 characters as a visible prefix to recognise it by: a fast
hash suffices because the secret is random, not chosen by a person (no dictionary to try), and
the lookup is by hash, so the comparison is the database's index and leaks nothing. A key
grants exactly what its user has in the playground (`webapp/playground/access.py`); revoking
is a conditional UPDATE of `revoked_at`, after which the key answers 401.
"""

from __future__ import annotations

import hashlib
import secrets
from typing import Any

from django.conf import settings
from django.core.validators import MinValueValidator
from django.db import models
from django.utils import timezone

KEY_PREFIX = "bt-"
PREFIX_CHARS = 11  # "bt-" and 8 random characters: enough to tell a user's keys apart
MAX_KEYS_PER_USER = 50


def hash_key(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


class ApiKeyQuerySet(models.QuerySet):
    def for_user(self, user: Any) -> ApiKeyQuerySet:
        """Only ever the user's own keys, staff included."""
        if not user.is_authenticated:
            return self.none()
        return self.filter(owner=user)

    def active(self) -> ApiKeyQuerySet:
        return self.filter(revoked_at__isnull=True)


class ApiKey(models.Model):
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_keys"
    )
    name = models.CharField(max_length=100)
    prefix = models.CharField(max_length=PREFIX_CHARS)
    hashed = models.CharField(max_length=64, unique=True)  # SHA-256 of the whole key, hex
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    # An administrator's exception to BOTTEGA_PLAYGROUND_REQUESTS_PER_MINUTE for this key (an
    # evaluation harness sends a request per item); blank (None): the setting. 0 is refused:
    # it would read as "the default" to some and as "none" to others; revoking stops a key.
    requests_per_minute = models.PositiveIntegerField(
        null=True, blank=True, help_text="Requests a minute through this key; blank: the "
        "server's default (BOTTEGA_PLAYGROUND_REQUESTS_PER_MINUTE).",
        validators=[MinValueValidator(1, "At least 1 request a minute. Leave it blank for the "
                                         "server's default; revoke the key to stop it.")],
    )  # fmt: skip

    objects = ApiKeyQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]
        verbose_name = "API key"

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    @classmethod
    def issue(cls, owner: Any, name: str) -> tuple[ApiKey, str]:
        """A new key for `owner`: the row and the secret, which is never stored or shown again."""
        raw = KEY_PREFIX + secrets.token_urlsafe(30)
        key = cls.objects.create(
            owner=owner, name=name, prefix=raw[:PREFIX_CHARS], hashed=hash_key(raw)
        )
        return key, raw

    @classmethod
    def authenticate(cls, raw: str) -> ApiKey | None:
        """The active key whose secret is `raw`, with its owner; None for anything else."""
        if not raw.startswith(KEY_PREFIX) or len(raw) > 200:
            return None
        key = (
            cls.objects.active()
            .select_related("owner")
            .filter(hashed=hash_key(raw), owner__is_active=True)
            .first()
        )
        if key is not None:
            now = timezone.now()
            # At most one write a minute per key: a busy client must not serialise on it.
            stale = models.Q(last_used_at__isnull=True) | models.Q(
                last_used_at__lt=now - timezone.timedelta(minutes=1)
            )
            cls.objects.filter(stale, pk=key.pk).update(last_used_at=now)
        return key

    @property
    def revoked(self) -> bool:
        return self.revoked_at is not None

    def revoke(self) -> bool:
        """Revoke the key; False when it already was (a second click changes nothing)."""
        now = timezone.now()
        won = ApiKey.objects.filter(pk=self.pk, revoked_at__isnull=True).update(revoked_at=now)
        if won:
            self.revoked_at = now
        return bool(won)
