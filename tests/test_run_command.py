"""The run command serves Bottega on real services, and Ctrl-C leaves nothing behind."""

import time

import pytest

from tests.stack import Stack, processes_marked

pytestmark = pytest.mark.slow


def test_it_serves_every_queue_and_stops_every_process_on_ctrl_c(tmp_path):
    stack = Stack(tmp_path / "var")
    try:
        health = stack.start()  # anonymous: up/down only, from the beat's heartbeats
        assert health["queues"] == {"cpu": True, "gpu_train": True, "gpu_infer": True}
        # one worker per queue, each named after it (worker names: for staff only)
        details = stack.staff_healthz()
        assert [q["worker"].split("@")[0] for q in details["queues"]] == [
            "cpu",
            "gpu_train",
            "gpu_infer",
        ]
        # web, 3 workers (+ a prefork child), beat, redis, and the launcher itself
        assert len(processes_marked(stack.mark)) >= 7
        # How to sign in comes once everything is up, after every worker's start-up lines, and
        # the workers keep their banners (and task lists) to themselves.
        log = _wait_for_line(stack, "Bottega is up. Created the first user. Sign in at ")
        up = log.index("Bottega is up.")
        for worker in ("cpu", "gpu_train", "gpu_infer"):
            assert log.index(f"{worker}@") < up
        assert "[tasks]" not in log and "-------------- " not in log

        # The secret a fresh clone needs was made once, for its owner's eyes only.
        secret = stack.var_dir / "secret_key"
        assert secret.stat().st_mode & 0o777 == 0o600
        assert len(secret.read_text().strip()) >= 50

        assert stack.ctrl_c() == 130, stack.log()  # 128 + SIGINT, the shell's convention
        deadline = time.monotonic() + 10
        while processes_marked(stack.mark) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert processes_marked(stack.mark) == [], stack.log()
    finally:
        stack.kill_leftovers()


def _wait_for_line(stack, text, timeout=60.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        log = stack.log_path.read_text(errors="replace")
        if text in log:
            return log
        time.sleep(0.2)
    raise AssertionError(f"{text!r} never printed:\n{stack.log()}")
