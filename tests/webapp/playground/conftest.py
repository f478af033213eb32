"""A playable tiny model for alice (random weights, context 64) and a socket helper.

The checkpoint is built once per session (tokenizer trained on a few KB, model never trained:
random weights cost what trained ones do, and the tests check plumbing, not quality); each
test copies it into a fresh ModelVersion's directory under its own MEDIA_ROOT.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import redis
from channels.testing import WebsocketCommunicator

from webapp.asgi import application
from webapp.registry.models import ModelVersion

WORDS = ["the", "mouse", "ate", "cheese", "cat", "città", "perché", "naïve", "日本", "🙂", "and"]


@pytest.fixture(scope="session")
def tiny_checkpoint(tmp_path_factory) -> Path:
    return build_tiny_checkpoint(tmp_path_factory.mktemp("playground"))


def build_tiny_checkpoint(root: Path, quiet_specials: bool = False) -> Path:
    """With `quiet_specials`, special tokens' embedding (tied: also output) rows are zero, so
    their logit is 0 while the top ordinary token's is positive: a greedy answer never ends
    by itself and runs to max_new_tokens or the end of the context, as tests of those need."""
    import random

    import torch

    from lmcore.checkpoint import save_checkpoint
    from lmcore.config import GPTConfig
    from lmcore.model import GPT
    from lmcore.tokenizer import TokenizerConfig, train_tokenizer

    torch.set_num_threads(1)  # 2 shared cores: one intra-op thread is fastest for tiny models
    rng = random.Random(0)
    corpus = root / "words.txt"
    lines = (" ".join(rng.choice(WORDS) for _ in range(rng.randint(3, 12))) for _ in range(300))
    corpus.write_text("\n".join(lines), encoding="utf-8")
    tokenizer = train_tokenizer([corpus], TokenizerConfig(vocab_size=300))
    config = GPTConfig(vocab_size=tokenizer.vocab_size, context=64, n_layer=2, n_head=2, d_model=32)
    with torch.random.fork_rng():
        torch.manual_seed(0)
        model = GPT(config).eval()
    if quiet_specials:
        with torch.no_grad():
            model.wte.weight[list(tokenizer.special_tokens.values())] = 0.0
    return save_checkpoint(root / "checkpoint", model, tokenizer)


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
def version(alice, tiny_checkpoint) -> ModelVersion:
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
