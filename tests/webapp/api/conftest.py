"""The API under test is the real ASGI app served by daphne in a child process, on the test
database and Redis, with the session's real Celery worker (in this process) serving
`gpu_infer`; the client is the official `openai` package.

Daphne's environment fixes MEDIA_ROOT, so these tests use one media directory for the
session (models are cleared before each test) instead of the playground tests' per-test one.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.webapp.fixtures_ml import wait_for
from tests.webapp.playground.conftest import (  # noqa: F401  (fixtures)
    _fresh_playground_state,
    make_version,
    tiny_checkpoint,
)
from webapp.devstack.localredis import free_port

ROOT = Path(__file__).resolve().parents[3]
# A generation that cannot end by itself while a test cancels it (the tiny model writes 1,000
# tokens in about a second, faster than a loaded machine answers the next request).
LONG = 50_000


DAPHNE = ["daphne", "-b", "127.0.0.1", "-p", "{port}", "webapp.asgi:application"]


@contextlib.contextmanager
def daphne(redis_url: str, media: Path, log: Path, argv: list[str] = DAPHNE,
           **env: str) -> Iterator[str]:  # fmt: skip
    """Serve webapp.asgi with daphne on a free port (`argv`: the command, "{port}" in it
    replaced); yields its base URL."""
    from django.conf import settings

    port = free_port()
    assert argv[0] == "daphne", argv
    environ = {
        **os.environ, "REDIS_URL": redis_url, "MEDIA_ROOT": str(media),
        "DATABASE_URL": f"sqlite:///{settings.DATABASES['default']['NAME']}",
        "PYTHONPATH": str(ROOT), "BOTTEGA_PLAYGROUND_PICKUP_TIMEOUT_S": "30",
        "BOTTEGA_PLAYGROUND_REQUESTS_PER_MINUTE": "1000",
        "BOTTEGA_PLAYGROUND_MAX_NEW_TOKENS": str(LONG), **env,
    }  # fmt: skip
    with open(log, "ab") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", *(a.replace("{port}", str(port)) for a in argv)],
            cwd=ROOT, env=environ, stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for(lambda: _answers(url, process, log), timeout=60)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=20)


def _answers(url: str, process: subprocess.Popen, log: Path) -> bool:
    if process.poll() is not None:
        raise AssertionError(f"daphne exited: {log.read_text()[-3000:]}")
    try:
        urllib.request.urlopen(f"{url}/healthz", timeout=2)  # never redirected to https
    except urllib.error.HTTPError:
        return True  # up (a 503: the test's Redis has no beat)
    except OSError:
        return False
    return True


@pytest.fixture(scope="session")
def api_media(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("api-media")


@pytest.fixture(scope="session")
def api_url(services, django_db_setup, api_media, tmp_path_factory) -> Iterator[str]:
    log = tmp_path_factory.mktemp("daphne") / "daphne.log"
    with daphne(services, api_media, log) as url:
        yield url


@pytest.fixture(autouse=True)
def media_root(settings, api_media) -> Path:
    settings.MEDIA_ROOT = api_media
    settings.PLAYGROUND_PICKUP_TIMEOUT_S = 30
    shutil.rmtree(api_media / "models", ignore_errors=True)
    return api_media


@pytest.fixture
def version(alice, tiny_checkpoint):  # noqa: F811
    return make_version(alice, tiny_checkpoint)


def issue_key(user, name: str = "test") -> str:
    from webapp.api.models import ApiKey

    return ApiKey.issue(user, name)[1]


@pytest.fixture
def alice_key(alice) -> str:
    return issue_key(alice)


def client_for(url: str, key: str, **options):
    from openai import OpenAI

    return OpenAI(base_url=f"{url}/v1", api_key=key, max_retries=0, timeout=120, **options)


@pytest.fixture
def alice_api(api_url, alice_key, celery_worker):
    client = client_for(api_url, alice_key)
    yield client
    client.close()
