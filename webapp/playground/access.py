"""Which model versions a user may play with: their own (staff: any), plus production
versions owned by staff, which staff thereby share with everyone; and whose conversations
they may open: only their own (404 otherwise, never 403: no probing)."""

from __future__ import annotations

from typing import Any

from django.db.models import Q
from django.http import Http404

from webapp.playground.models import Conversation
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


def access_conversation(user: Any, pk: int) -> Conversation:
    """`user`'s conversation `pk`; Http404 when it is someone else's or doesn't exist."""
    try:
        return Conversation.objects.for_user(user).select_related("model_version").get(pk=pk)
    except Conversation.DoesNotExist:
        raise Http404("No such conversation.") from None
