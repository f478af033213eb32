"""DATABASE_URL switches Bottega to PostgreSQL (production's database): migrate and preflight.

Needs a PostgreSQL server: BOTTEGA_TEST_POSTGRES_URL, else postgres://postgres@127.0.0.1:5432/
(the CI machines run one). Skipped where none answers, except in CI, where that fails.
"""

import os
import subprocess
import sys
import uuid
from pathlib import Path

import psycopg
import pytest

from tests.conftest import IN_CI

ROOT = Path(__file__).resolve().parents[1]
SERVER = os.environ.get("BOTTEGA_TEST_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432")


@pytest.fixture
def database_url():
    name = f"bottega_test_{uuid.uuid4().hex[:12]}"
    try:
        admin = psycopg.connect(f"{SERVER}/postgres", autocommit=True, connect_timeout=3)
    except psycopg.OperationalError as exc:
        message = f"no PostgreSQL at {SERVER} ({str(exc).strip().splitlines()[0]})"
        pytest.fail(message) if IN_CI else pytest.skip(message)
    with admin:
        admin.execute(f'CREATE DATABASE "{name}"')
        yield f"{SERVER}/{name}"
        admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')


def _manage(database_url: str, redis_url: str, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "DATABASE_URL": database_url, "REDIS_URL": redis_url}
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_it_migrates_and_passes_preflight_on_postgres(database_url, redis_server):
    migrate = _manage(database_url, redis_server.url, "migrate", "--no-input")
    assert migrate.returncode == 0, migrate.stderr
    preflight = _manage(database_url, redis_server.url, "preflight")
    assert preflight.returncode == 0, preflight.stderr
    assert preflight.stdout.strip() == "database and Redis answer"
    with psycopg.connect(database_url) as conn:
        tables = {r[0] for r in conn.execute("SELECT tablename FROM pg_tables").fetchall()}
    assert {"auth_user", "django_session", "django_migrations"} <= tables


def test_preflight_names_redis_when_it_is_down(database_url):
    result = _manage(database_url, "redis://127.0.0.1:1/0", "preflight")
    assert result.returncode == 1
    assert result.stderr.strip().startswith("CommandError: REDIS_URL: cannot reach")
