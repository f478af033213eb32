"""The one way to look up a model version for a request: the owner's (staff: any), or 404."""

from __future__ import annotations

from typing import Any

from django.http import Http404

from webapp.registry.models import ModelVersion


def access_model_version(user: Any, pk: int) -> ModelVersion:
    try:
        return ModelVersion.objects.for_user(user).select_related("run", "tokenizer").get(pk=pk)
    except ModelVersion.DoesNotExist:
        raise Http404("No such model version.") from None
