"""A playable tiny model for alice (random weights, context 64) and a socket helper.

The checkpoint is tests/conftest.py's `tiny_checkpoint`, built once per session (tests/tiny.py);
each test copies it into a fresh ModelVersion's directory under its own MEDIA_ROOT.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import redis
from channels.testing import WebsocketCommunicator

# Re-exported: other tests import them from here. `tiny_checkpoint` is tests/conftest.py's.
from tests.conftest import tiny_checkpoint  # noqa: F401
from tests.tiny import WORDS, build_tiny_checkpoint  # noqa: F401
from webapp.asgi import application
from webapp.registry.models import ModelVersion


@pytest.fixture(autouse=True)
def media_root(settings, tmp_path) -> Path:
    settings.MEDIA_ROOT = tmp_path / "media"
    # The session's embedded worker is solo and serves every queue: a task another test left
    # running may hold it for a while, which must not read as "no worker".
    settings.PLAYGROUND_PICKUP_TIMEOUT_S = 30
    return settings.MEDIA_ROOT


@pytest.fixture(autouse=True)
def _fresh_playground_state(services):
    """Forget loaded models and the previous test's limits (not FLUSHDB: Celery's keys live
    in the same Redis)."""
    from workers.playground import clear_cache

    clear_cache()
    with redis.Redis.from_url(services) as conn:
        for key in conn.scan_iter("bottega:pg:*"):
            conn.delete(key)


def make_version(owner, checkpoint: Path, name: str = "tiny", **fields) -> ModelVersion:
    version = ModelVersion.objects.create(
        owner=owner, name=name, version=fields.pop("version", 1), params=1, step=0, **fields
    )
    shutil.copytree(checkpoint, version.directory)
    return version


@pytest.fixture
def version(alice, tiny_checkpoint) -> ModelVersion:  # noqa: F811
    return make_version(alice, tiny_checkpoint)


def playground_socket(client) -> WebsocketCommunicator:
    cookie = f"sessionid={client.cookies['sessionid'].value}".encode()
    headers = [(b"origin", b"http://localhost"), (b"cookie", cookie)]
    return WebsocketCommunicator(application, "/ws/playground/", headers=headers)


async def connected(client) -> WebsocketCommunicator:
    socket = playground_socket(client)
    assert (await socket.connect())[0]
    return socket


async def receive_until(
    socket, request_id: str, kinds=("done",), timeout: float = 60.0
) -> list[dict]:
    """Messages for request_id up to and including the first whose type is in `kinds` (or an
    error)."""
    seen = []
    while True:
        message = await socket.receive_json_from(timeout=timeout)
        if message.get("request_id") != request_id:
            continue
        seen.append(message)
        if message["type"] in kinds or message["type"] == "error":
            return seen
