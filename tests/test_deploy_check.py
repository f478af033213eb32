"""Production configuration passes Django's deployment checks; the defaults are the safe ones.

The environment is read from docker-compose.yml itself (its `${VAR:-default}` as compose would
expand it, with a generated SECRET_KEY), so a change there that weakens the configuration
fails here.
"""

import os
import re
import secrets
import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]


def _compose_environment(**given: str) -> dict[str, str]:
    """The app services' environment as `docker compose` expands it with `given` set."""
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    env = {}
    for name, value in compose["x-app"]["environment"].items():

        def expand(match: re.Match) -> str:
            var, op, default = match.group(1), match.group(2), match.group(3)
            if var in given:
                return given[var]
            assert op == ":-", f"compose requires {var}"
            return default

        env[name] = re.sub(r"\$\{(\w+)(:[-?])([^}]*)\}", expand, str(value))
    return env


def _check_deploy(tmp_path: Path, env: dict[str, str]) -> subprocess.CompletedProcess:
    keep = {"PATH", "PYTHONPATH", "HOME", "LANG"}
    environ = {k: v for k, v in os.environ.items() if k in keep}
    environ.update(env)
    environ.update(
        DJANGO_SETTINGS_MODULE="webapp.settings",
        DATABASE_URL="",  # the check needs no database; compose's host does not resolve here
        BOTTEGA_VAR_DIR=str(tmp_path / "var"),
        STATIC_ROOT=str(tmp_path / "static"),
        MEDIA_ROOT=str(tmp_path / "media"),
    )
    return subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=environ,
        capture_output=True,
        text=True,
    )


def test_it_passes_check_deploy_with_the_compose_environment(tmp_path):
    env = _compose_environment(SECRET_KEY=secrets.token_urlsafe(50))
    assert env["DEBUG"] == "false" and env["HTTPS"] == "true"
    result = _check_deploy(tmp_path, env)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_debug_is_off_unless_asked_for(tmp_path):
    # The image on its own (no DEBUG in the environment) serves no debug pages: check --deploy
    # names DEBUG (security.W018) only when it is on.
    env = {"SECRET_KEY": secrets.token_urlsafe(50)}
    assert "security.W018" not in _check_deploy(tmp_path, env).stdout
    result = _check_deploy(tmp_path, {**env, "DEBUG": "true"})
    assert "security.W018" in result.stderr + result.stdout


def test_plain_http_is_a_warning_not_a_default(tmp_path):
    env = _compose_environment(SECRET_KEY=secrets.token_urlsafe(50), HTTPS="false")
    result = _check_deploy(tmp_path, env)
    assert result.returncode == 1
    assert "security.W012" in result.stderr  # SESSION_COOKIE_SECURE
