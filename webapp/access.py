"""The one way to look up a row for a request: what the model's `for_user` lets the user see.

Anything else is a 404, never a 403, so nobody can probe which ids exist. The rules live on
each model's manager (`objects.for_user(user)`): the owner's rows; staff see every model
version; conversations are private even from staff.
"""

from __future__ import annotations

from typing import Any, TypeVar

from django.db.models import Model
from django.http import Http404

M = TypeVar("M", bound=Model)


def access(user: Any, model: type[M], pk: int) -> M:
    """`user`'s `model` row `pk`; Http404 ("No such <model>.") when it isn't theirs to see."""
    try:
        return model.objects.for_user(user).get(pk=pk)  # type: ignore[attr-defined]
    except model.DoesNotExist:  # type: ignore[attr-defined]
        raise Http404(f"No such {model._meta.verbose_name}.") from None
