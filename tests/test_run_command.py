"""The run command serves Bottega on real services, Ctrl-C leaves nothing behind and ends
cleanly, how to sign in stays the last thing it prints, and a second start says how to get a
password with a command that works."""

import json
import os
import re
import subprocess
import time

import pytest
import redis

from tests.stack import ADMIN_PASSWORD, ROOT, Stack, processes_marked

pytestmark = pytest.mark.slow
QUEUES = ("cpu", "gpu_train", "gpu_infer")


def test_it_serves_every_queue_stops_cleanly_and_a_second_start_stays_quiet(tmp_path):
    """One stack started twice on the same data, as a newcomer does: the first start, then a
    second whose banner gives a password command that works. Heartbeats every second and the
    stale-job sweep every 2 s: the quiet banner is watched over several of each in seconds."""
    fast_beat = {"BOTTEGA_HEALTH_PROBE_SECONDS": "1", "BOTTEGA_SWEEP_SECONDS": "2"}
    stack = Stack(tmp_path / "var", env=fast_beat)
    try:
        _first_start_serves_every_queue_and_ctrl_c_leaves_nothing(stack)
        _second_start_stays_quiet_and_its_password_hint_works(stack)
    finally:
        stack.kill_leftovers()


def _first_start_serves_every_queue_and_ctrl_c_leaves_nothing(stack: Stack) -> None:
    health = stack.start()  # anonymous: up/down only, from the beat's heartbeats
    assert health["queues"] == {"cpu": True, "gpu_train": True, "gpu_infer": True}
    # one worker per queue, each named after it (worker names: for staff only)
    details = stack.staff_healthz()
    assert [q["worker"].split("@")[0] for q in details["queues"]] == list(QUEUES)
    # web, 3 workers (+ a prefork child), beat, redis, and the launcher itself
    assert len(processes_marked(stack.mark)) >= 7
    # How to sign in comes once everything is up, after every worker's start-up lines, and
    # the workers keep their banners (and task lists) to themselves.
    log = stack.wait_for_line("Bottega is up. Created the first user. Sign in at ")
    up = log.index("Bottega is up.")
    for worker in QUEUES:
        assert log.index(f"{worker}@") < up
    assert "[tasks]" not in log and "-------------- " not in log

    # The secret a fresh clone needs was made once, for its owner's eyes only.
    secret = stack.var_dir / "secret_key"
    assert secret.stat().st_mode & 0o777 == 0o600
    assert len(secret.read_text().strip()) >= 50

    # Ctrl-C is how the command is meant to end: status 0, so that `make run` does not
    # report "make: *** [run] Error 130" (it did while this was 128 + SIGINT).
    assert stack.ctrl_c() == 0, stack.log()
    deadline = time.monotonic() + 10
    while processes_marked(stack.mark) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert processes_marked(stack.mark) == [], stack.log()


def _second_start_stays_quiet_and_its_password_hint_works(stack: Stack) -> None:
    stack.launch()  # the second start: the first user exists, its password is not shown
    log = stack.wait_for_line("Bottega is up.", timeout=180)
    banner = log[log.index("Bottega is up.") :]
    assert "with an existing user" in banner and ADMIN_PASSWORD not in banner

    # The banner stays the last lines while the beat's heartbeats go through every queue
    # and the stale-job sweep runs (every 2 s here), which logged two lines a second at INFO.
    _wait_for_heartbeats(stack, log, times=4)
    after = stack.log_path.read_text(errors="replace").split("Bottega is up.", 1)[1]
    lines = [line for line in after.splitlines()[1:] if line.strip()]
    assert lines == [], "\n".join(lines)

    # The hint runs as printed, from the checkout, as a newcomer's shell would run it.
    command = re.search(r"password\? (.+?) prints a new one", banner).group(1)
    assert command.endswith("manage.py reset_admin_password")
    assert command.split()[0] == ".venv/bin/python" or os.path.isabs(command.split()[0])
    out = _run_in_a_fresh_shell(command, stack)
    password = re.search(r"with password (\S+)", out).group(1)
    assert stack.signed_in(password) is not None
    assert stack.signed_in(ADMIN_PASSWORD) is None  # the old one no longer works
    assert stack.ctrl_c() == 0, stack.log()


def _run_in_a_fresh_shell(command: str, stack: Stack) -> str:
    """`command` through sh in the checkout, with none of the tests' Django settings: only
    where the stack keeps its data (a newcomer's is the default var/)."""
    unset = {"DJANGO_SETTINGS_MODULE", "SECRET_KEY", "DEBUG", "REDIS_URL", "DATABASE_URL"}
    env = {k: v for k, v in os.environ.items() if k not in unset}
    env["BOTTEGA_VAR_DIR"] = str(stack.var_dir)
    done = subprocess.run(command, shell=True, cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=120)  # fmt: skip
    assert done.returncode == 0, done.stderr
    return done.stdout


def _wait_for_heartbeats(stack: Stack, log: str, times: int, timeout: float = 90.0) -> None:
    """Poll the stack's Redis (not its web server, whose access log would add lines) until
    every queue's heartbeat has been written `times` more times."""
    url = re.search(r"Started a private Redis at (\S+) ", log).group(1)
    client = redis.Redis.from_url(url)
    seen: dict[str, set[float]] = {q: set() for q in QUEUES}
    deadline = time.monotonic() + timeout
    try:
        while min(len(v) for v in seen.values()) <= times:
            assert time.monotonic() < deadline, f"heartbeats seen: {seen}"
            for queue in QUEUES:
                raw = client.get(f"bottega:health:{queue}")
                if raw:
                    seen[queue].add(json.loads(raw)["at"])
            time.sleep(0.5)
    finally:
        client.close()
