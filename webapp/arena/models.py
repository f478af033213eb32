"""The blind arena's rows: boards, battles (two unnamed answers to one prompt) and votes.

A `Battle` is the server-side mapping from an unguessable id to the pair of versions: pages
and the socket name only the battle, so nothing before the vote says which versions answer
(docs/architecture.md, "Arena"). A `Vote` belongs to one battle (one vote per answer pair,
a unique constraint); withdrawing deletes it. Staff reset a board by deleting its votes.
"""

from __future__ import annotations

import uuid
from typing import Any

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.urls import reverse

from webapp.playground.access import playable_versions


class BoardKind(models.TextChoices):
    # Like with like: a chat board pairs chat versions (the prompt is the user's message),
    # a completion board base versions (the prompt is text to continue).
    CHAT = "chat", "Chat"
    COMPLETION = "completion", "Completion"


class Board(models.Model):
    """A set of votes with its own ratings, on one kind of version."""

    slug = models.SlugField(max_length=50, unique=True)
    title = models.CharField(max_length=100)
    kind = models.CharField(max_length=16, choices=BoardKind.choices)
    description = models.TextField(blank=True)

    class Meta:
        ordering = ["title"]

    def __str__(self) -> str:
        return self.title

    def get_absolute_url(self) -> str:
        return reverse("arena:leaderboard", args=[self.slug])

    @property
    def chat(self) -> bool:
        return self.kind == BoardKind.CHAT


class BattleQuerySet(models.QuerySet):
    def for_user(self, user: Any) -> BattleQuerySet:
        """The user's own battles (private, staff included, as conversations are) whose two
        versions they may still use: a version no longer shared takes its battles out of
        view rather than naming it."""
        if not user.is_authenticated:
            return self.none()
        playable = playable_versions(user).values("pk")
        return self.filter(owner=user, left__in=playable, right__in=playable)


class Battle(models.Model):
    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="battles"
    )
    board = models.ForeignKey(Board, on_delete=models.CASCADE, related_name="battles")
    # Shown as A (left) and B (right); a deleted version takes its battles and votes along.
    left = models.ForeignKey(
        "registry.ModelVersion", on_delete=models.CASCADE, related_name="battles_left"
    )
    right = models.ForeignKey(
        "registry.ModelVersion", on_delete=models.CASCADE, related_name="battles_right"
    )
    picked = models.BooleanField(default=False, help_text="The user chose the pair.")
    prompt = models.TextField()
    params = models.JSONField(help_text="Sampling settings, seed included, for both sides.")
    # [{"text", "reason", "stats"}, same] once both answers have ended; stats stay hidden
    # until the vote (speed and token counts could give a version away).
    answers = models.JSONField(null=True, blank=True)
    revealed_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    objects = BattleQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(condition=~Q(left=F("right")), name="battle_two_versions"),
        ]

    def __str__(self) -> str:
        return f"battle {self.public_id}"

    def get_absolute_url(self) -> str:
        return reverse("arena:battle", args=[self.public_id])

    @property
    def request_id(self) -> str:
        """Its token stream's request id (webapp/playground/streams.py): the battle's own."""
        return f"arena-{self.public_id.hex}"

    @property
    def answered(self) -> bool:
        return self.answers is not None

    @property
    def sides(self) -> list[Any]:
        return [self.left, self.right]


class Outcome(models.TextChoices):
    LEFT = "left", "A is better"
    RIGHT = "right", "B is better"
    TIE = "tie", "Tie"
    BOTH_BAD = "both_bad", "Both are bad"


class VoteQuerySet(models.QuerySet):
    def for_user(self, user: Any) -> VoteQuerySet:
        if not user.is_authenticated:
            return self.none()
        return self.filter(battle__in=Battle.objects.for_user(user))


class Vote(models.Model):
    battle = models.OneToOneField(Battle, on_delete=models.CASCADE, related_name="vote")
    outcome = models.CharField(max_length=16, choices=Outcome.choices)
    created_at = models.DateTimeField(auto_now_add=True)

    objects = VoteQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]
        # One vote per answer pair: the OneToOneField's unique index says it to the database.

    def __str__(self) -> str:
        return f"vote on {self.battle}"

    def get_absolute_url(self) -> str:
        return self.battle.get_absolute_url()
