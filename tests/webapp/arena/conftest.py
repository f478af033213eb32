"""Arena personas' versions and helpers. The checkpoint, MEDIA_ROOT and the fresh inference
state come from the playground's fixtures (the arena runs on its generation path)."""

from __future__ import annotations

import pytest
from channels.testing import WebsocketCommunicator

from tests.webapp.playground.conftest import (  # noqa: F401  (fixtures)
    _fresh_playground_state,
    make_version,
    media_root,
)
from webapp.arena.models import Battle, Board
from webapp.asgi import application


@pytest.fixture(autouse=True)
def _fresh_ratings_cache():
    from django.core.cache import cache

    cache.clear()


@pytest.fixture
def completion():
    # Made by the arena's migration; a transactional test's flush empties the table after it.
    return Board.objects.get_or_create(slug="completion", defaults={
        "title": "Completion", "kind": "completion"})[0]  # fmt: skip


@pytest.fixture
def chat_board():
    return Board.objects.get_or_create(slug="chat", defaults={"title": "Chat", "kind": "chat"})[0]


@pytest.fixture
def pair(alice, tiny_checkpoint):
    """Two base versions of alice's, private to her (candidates)."""
    return (make_version(alice, tiny_checkpoint, name="alpha-secret"),
            make_version(alice, tiny_checkpoint, name="beta-secret"))  # fmt: skip


def answered_battle(owner, board, left, right, prompt="the mouse") -> Battle:
    """A battle whose answers have ended (as the socket keeps them), ready for a vote."""
    answers = [{"text": f" answer {side}", "reason": "max_new_tokens",
                "stats": {"tokens": 3, "tokens_per_s": 50.0}} for side in "ab"]  # fmt: skip
    return Battle.objects.create(owner=owner, board=board, left=left, right=right, prompt=prompt,
                                 params={"max_new_tokens": 3, "seed": 1}, answers=answers)  # fmt: skip


def arena_socket(client, battle) -> WebsocketCommunicator:
    cookie = f"sessionid={client.cookies['sessionid'].value}".encode()
    headers = [(b"origin", b"http://localhost"), (b"cookie", cookie)]
    return WebsocketCommunicator(application, f"/ws/arena/{battle.public_id}/", headers=headers)


async def until(socket, kinds: tuple[str, ...], timeout: float = 60.0) -> list[dict]:
    """Every message up to and including the first of one of `kinds` (or an error)."""
    seen = []
    while True:
        message = await socket.receive_json_from(timeout=timeout)
        seen.append(message)
        if message["type"] in kinds or message["type"] == "error":
            return seen
