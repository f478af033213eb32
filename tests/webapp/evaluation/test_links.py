"""The two leaderboards point at each other: benchmark figures (evaluation) and human
preference (the arena)."""

import pytest
from django.urls import reverse

from webapp.arena.models import Board

pytestmark = pytest.mark.django_db


def test_the_arena_and_the_evaluation_leaderboard_link_to_each_other(alice_client):
    evaluation = f'href="{reverse("evaluation:leaderboard")}"'
    Board.objects.get_or_create(slug="general", defaults={"title": "General", "kind": "chat"})
    for page in ("arena:index", "arena:leaderboards"):
        assert evaluation in alice_client.get(reverse(page), follow=True).content.decode(), page
    Board.objects.all().delete()  # a site whose staff removed every board links there too
    assert evaluation in alice_client.get(reverse("arena:leaderboards")).content.decode()
    board = alice_client.get(reverse("evaluation:leaderboard")).content.decode()
    assert f'href="{reverse("arena:leaderboards")}"' in board
