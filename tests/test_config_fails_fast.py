"""Bad configuration stops the run command at once with one line naming the setting."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _launch(tmp_path: Path, **env: str) -> subprocess.CompletedProcess:
    environ = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "REDIS_URL"}}
    environ.update(BOTTEGA_VAR_DIR=str(tmp_path), **env)
    return subprocess.run(
        [sys.executable, "-m", "webapp.devstack.launcher", "--port", "1"],
        cwd=ROOT,
        env=environ,
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.parametrize(
    "env, starts_with",
    [
        (
            {"REDIS_URL": "redis://127.0.0.1:1/0"},
            "error: REDIS_URL: cannot reach redis://127.0.0.1:1/0",
        ),
        (
            {"REDIS_URL": "http://localhost:6379"},
            "error: REDIS_URL: cannot reach http://localhost:6379",
        ),
        ({"DATABASE_URL": "nosuchdb://x/y"}, "error: DATABASE_URL: "),
        (
            {"DATABASE_URL": "postgres://nobody@127.0.0.1:1/bottega"},
            "error: DATABASE_URL: cannot connect",
        ),
        ({"DEBUG": "maybe"}, "error: DEBUG: expected true or false, got 'maybe'"),
        (
            {"BOTTEGA_LIMIT_JOBS": "-1"},
            "error: BOTTEGA_LIMIT_JOBS: expected 0 (no limit) or more, got -1",
        ),
        (
            {"BOTTEGA_TRUSTED_PROXIES": "10.0.0.1,proxy.local"},
            "error: BOTTEGA_TRUSTED_PROXIES: 'proxy.local' is not an IP address or network",
        ),
    ],
)
def test_it_names_the_bad_setting_in_one_line(tmp_path, redis_server, env, starts_with):
    env.setdefault("REDIS_URL", redis_server.url)
    result = _launch(tmp_path, **env)
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(starts_with), lines[0]


def test_a_missing_secret_key_is_one_line_naming_it(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in {"SECRET_KEY", "DEBUG"}}
    env.update(BOTTEGA_VAR_DIR=str(tmp_path), DJANGO_SETTINGS_MODULE="webapp.settings")
    result = subprocess.run(
        [sys.executable, "manage.py", "check"], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "error: SECRET_KEY: not set; give it a long random string (`make run` makes one in var/)"
    ]


def test_manage_py_beside_make_run_uses_its_secret(tmp_path):
    (tmp_path / "secret_key").write_text("made-by-make-run-" + "x" * 40 + "\n")
    env = {k: v for k, v in os.environ.items() if k not in {"SECRET_KEY", "DEBUG"}}
    env.update(BOTTEGA_VAR_DIR=str(tmp_path), DJANGO_SETTINGS_MODULE="webapp.settings")
    result = subprocess.run(
        [sys.executable, "manage.py", "check"], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr


def test_manage_py_reports_bad_settings_in_one_line(tmp_path):
    env = {**os.environ, "DATABASE_URL": "nosuchdb://x/y", "BOTTEGA_VAR_DIR": str(tmp_path)}
    result = subprocess.run(
        [sys.executable, "manage.py", "check"], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert result.returncode == 2
    assert result.stderr.strip().startswith("error: DATABASE_URL: ")
    assert len(result.stderr.strip().splitlines()) == 1
