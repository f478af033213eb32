"""The one way to look up a training run for a request: its owner's, or 404."""

from __future__ import annotations

from typing import Any

from django.http import Http404

from webapp.training.models import TrainingRun


def access_training_run(user: Any, pk: int) -> TrainingRun:
    try:
        return TrainingRun.objects.for_user(user).get(pk=pk)
    except TrainingRun.DoesNotExist:
        raise Http404("No such training run.") from None
