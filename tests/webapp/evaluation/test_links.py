"""The two leaderboards point at each other: benchmark figures (evaluation) and human
preference (the arena)."""

import pytest
from django.urls import reverse

pytestmark = pytest.mark.django_db


def test_the_arena_and_the_evaluation_leaderboard_link_to_each_other(alice_client):
    evaluation = f'href="{reverse("evaluation:leaderboard")}"'
    for page in ("arena:index", "arena:leaderboards"):
        assert evaluation in alice_client.get(reverse(page), follow=True).content.decode(), page
    board = alice_client.get(reverse("evaluation:leaderboard")).content.decode()
    assert f'href="{reverse("arena:leaderboards")}"' in board
