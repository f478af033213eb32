"""A board's leaderboard as a viewer sees it: ratings fitted on every vote of the board
(ratings.py), then only the versions the viewer may use are named.

The fit (a few hundred refits for the intervals) is cached per board and set of votes, so a
page view costs one query while nobody votes.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from django.core.cache import cache

from webapp.arena.models import Board, Vote
from webapp.arena.ratings import PairCount, Rating, fit, pair_counts, win_probability
from webapp.arena.ratings import Vote as Ballot
from webapp.playground.access import playable_versions
from webapp.registry.models import ModelVersion

BOOTSTRAP_ROUNDS = 200


@dataclass(frozen=True)
class Row:
    rank: int
    version: ModelVersion
    rating: Rating


@dataclass(frozen=True)
class Pair:
    a: ModelVersion
    b: ModelVersion
    count: PairCount
    expected: float  # P(a beats b) under the fitted ratings


@dataclass(frozen=True)
class Leaderboard:
    board: Board
    rows: list[Row]
    pairs: list[Pair]
    votes: int  # every vote on the board
    hidden: int  # rated versions the viewer may not use, hence not named


def ratings_of(board: Board) -> tuple[list[Rating], list[PairCount], int]:
    """(ratings, votes per pair, number of votes) over every vote on `board`, cached."""
    rows = list(
        Vote.objects.filter(battle__board=board)
        .order_by("pk")
        .values_list("pk", "battle__left_id", "battle__right_id", "outcome")
    )
    digest = hashlib.sha256(repr([r[0] for r in rows]).encode()).hexdigest()[:32]
    key = f"arena:ratings:{board.pk}:{digest}"
    cached = cache.get(key)
    if cached is None:
        ballots = [Ballot(left, right, outcome) for _, left, right, outcome in rows]
        cached = (fit(ballots, rounds=BOOTSTRAP_ROUNDS), pair_counts(ballots), len(rows))
        cache.set(key, cached, timeout=24 * 3600)
    return cached


def leaderboard_for(viewer: Any, board: Board) -> Leaderboard:
    ratings, pairs, votes = ratings_of(board)
    visible = playable_versions(viewer).filter(pk__in=[r.item for r in ratings])
    named = {v.pk: v for v in visible.select_related("owner")}
    rows = [r for r in ratings if r.item in named]
    rating = {r.item: r.rating for r in ratings}
    shown = [p for p in pairs if p.a in named and p.b in named]
    return Leaderboard(
        board=board,
        rows=[Row(i + 1, named[r.item], r) for i, r in enumerate(rows)],
        pairs=[
            Pair(named[p.a], named[p.b], p, win_probability(rating[p.a], rating[p.b]))
            for p in shown
        ],  # fmt: skip
        votes=votes,
        hidden=len(ratings) - len(rows),
    )
