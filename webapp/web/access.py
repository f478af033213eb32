"""The one way to look up a row for a request: what the model's `for_user` lets the user see.

Anything else is a 404, never a 403, so nobody can probe which ids exist. The rules live on
each model's manager (`objects.for_user(user)`): the owner's rows; staff see every model
version; conversations are private even from staff; a job being deleted is gone at once.
What one may delete is narrower: one's own rows only (`owner_only`), staff included, who
delete others' objects from the admin.
"""

from __future__ import annotations

from typing import Any, TypeVar

from django.db.models import Model
from django.http import Http404

M = TypeVar("M", bound=Model)


def access(user: Any, model: type[M], pk: int, *, owner_only: bool = False) -> M:
    """`user`'s `model` row `pk`; Http404 ("No such <model>.") when it isn't theirs to see,
    or, with `owner_only`, when they do not own it."""
    rows = model.objects.for_user(user)  # type: ignore[attr-defined]
    if owner_only:
        rows = rows.filter(owner_id=user.pk)
    try:
        return rows.get(pk=pk)
    except model.DoesNotExist:  # type: ignore[attr-defined]
        raise Http404(f"No such {model._meta.verbose_name}.") from None
