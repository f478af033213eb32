"""The one way to look up a tokenizer run for a request: its owner's, or 404."""

from __future__ import annotations

from typing import Any

from django.http import Http404

from webapp.tokenization.models import TokenizerRun


def access_tokenizer_run(user: Any, pk: int) -> TokenizerRun:
    try:
        return TokenizerRun.objects.for_user(user).get(pk=pk)
    except TokenizerRun.DoesNotExist:
        raise Http404("No such tokenizer.") from None
