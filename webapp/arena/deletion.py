"""What becomes of arena battles when a version that answered in them is deleted (webapp/deletion):
they go, votes included (CASCADE: a rating of a version that is gone means nothing), counted,
since other users' battles are not named."""

from __future__ import annotations

from collections.abc import Iterator

from django.db.models import QuerySet

from webapp.arena.models import Battle
from webapp.deletion.plans import Effect, dependants
from webapp.registry.models import ModelVersion


@dependants(Battle.left, Battle.right)  # CASCADE
def _battles(
    version: ModelVersion, left: QuerySet[Battle], right: QuerySet[Battle]
) -> Iterator[Effect]:
    if count := left.count() + right.count():
        votes = sum(side.filter(vote__isnull=False).count() for side in (left, right))
        yield Effect(f"{count} arena battle(s) it answered in are deleted, with their {votes} "
                     "vote(s): it leaves the arena's leaderboards")  # fmt: skip
