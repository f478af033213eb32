"""Which model versions a user may play with: their own (staff: any), plus production
versions owned by staff, which staff thereby share with everyone: one per name and kind, so a
name's base and its chat fine-tune can both be shared (docs/architecture.md, "Sharing")."""

from __future__ import annotations

from typing import Any

from django.db.models import Q

from webapp.registry.models import ModelVersion, VersionStatus


def playable_versions(user: Any):
    if not user.is_authenticated:
        return ModelVersion.objects.none()
    if user.is_staff:
        return ModelVersion.objects.all()
    shared = Q(status=VersionStatus.PRODUCTION, owner__is_staff=True)
    return ModelVersion.objects.filter(Q(owner=user) | shared)


def can_play(user: Any, version_ids: list[int]) -> bool:
    wanted = set(version_ids)
    return playable_versions(user).filter(pk__in=wanted).count() == len(wanted)
