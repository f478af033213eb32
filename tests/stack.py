"""Run the whole of Bottega as `make run` does (the launcher), for end-to-end tests."""

from __future__ import annotations

import contextlib
import http.cookiejar
import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from webapp.devstack.localredis import free_port

ROOT = Path(__file__).resolve().parents[1]
ADMIN_PASSWORD = "stack-admin-password-1"


def processes_marked(mark: str) -> list[int]:
    """PIDs of live processes whose environment carries `mark` (every child inherits it)."""
    pids = []
    needle = f"BOTTEGA_RUN_MARK={mark}".encode()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            environ = (entry / "environ").read_bytes()
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if needle in environ.split(b"\0") and state != "Z":
            pids.append(int(entry.name))
    return pids


@dataclass
class Stack:
    var_dir: Path
    port: int = field(default_factory=free_port)
    mark: str = field(default_factory=lambda: uuid.uuid4().hex)
    process: subprocess.Popen | None = None
    log_path: Path | None = None
    env: dict[str, str] = field(default_factory=dict)  # on top of a fresh clone's environment

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 90.0) -> dict:
        """Start the launcher and wait until /healthz reports every service up."""
        self.launch()
        deadline = time.monotonic() + timeout
        body: dict = {}
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"launcher exited early:\n{self.log()}")
            body = self.healthz()
            if body.get("ok"):
                return body
            time.sleep(0.5)
        raise RuntimeError(f"stack not healthy after {timeout:g} s: {body}\n{self.log()}")

    def launch(self) -> None:
        """Start the launcher, as `make run` does, and return at once (a new log each time)."""
        # As on a fresh clone: no SECRET_KEY nor DEBUG (the launcher sets them), its own Redis.
        unset = {"REDIS_URL", "DATABASE_URL", "SECRET_KEY", "DEBUG", "DJANGO_SETTINGS_MODULE"}
        env = {k: v for k, v in os.environ.items() if k not in unset}
        env.update(
            BOTTEGA_VAR_DIR=str(self.var_dir),
            BOTTEGA_RUN_MARK=self.mark,
            BOTTEGA_ADMIN_PASSWORD=ADMIN_PASSWORD,
            CPU_CONCURRENCY="1",
        )
        env.update(self.env)
        self.log_path = self.var_dir / "launcher.log"
        self.var_dir.mkdir(parents=True, exist_ok=True)
        self.process = subprocess.Popen(
            [sys.executable, "-m", "webapp.devstack.launcher", "--port", str(self.port)],
            cwd=ROOT,
            env=env,
            stdout=self.log_path.open("wb"),
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group, like a shell's foreground job
        )

    def wait_for_line(self, text: str, timeout: float = 60.0) -> str:
        """The launcher's output once it holds `text`."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            log = self.log_path.read_text(errors="replace")
            if text in log:
                return log
            if self.process.poll() is not None:
                break
            time.sleep(0.2)
        raise AssertionError(f"{text!r} never printed:\n{self.log()}")

    def manage(self, *args: str) -> str:
        """Run a manage.py command against this stack's database; its stdout."""
        env = {k: v for k, v in os.environ.items() if k not in {"REDIS_URL", "DATABASE_URL"}}
        env.update(BOTTEGA_VAR_DIR=str(self.var_dir))
        done = subprocess.run(
            [sys.executable, "manage.py", *args],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        if done.returncode != 0:
            raise RuntimeError(f"manage.py {' '.join(args)} failed: {done.stderr[-2000:]}")
        return done.stdout

    def healthz(self) -> dict:
        try:
            with urllib.request.urlopen(f"{self.url}/healthz", timeout=10) as response:
                return json.load(response)
        except urllib.error.HTTPError as exc:
            return json.load(exc)
        except (OSError, ValueError):
            return {}

    def staff_healthz(self) -> dict:
        """/healthz with its details, as the first (staff) user signed in sees it."""
        opener = self.signed_in(ADMIN_PASSWORD)
        assert opener is not None, "the first user cannot sign in"
        with opener.open(f"{self.url}/healthz", timeout=10) as response:
            return json.load(response)

    def signed_in(self, password: str, username: str = "admin"):
        """A urllib opener holding the user's session, or None when the sign-in page refuses."""
        jar = http.cookiejar.CookieJar()
        opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
        opener.open(f"{self.url}/accounts/login/", timeout=10).read()
        form = {"username": username, "password": password}
        form["csrfmiddlewaretoken"] = next(c.value for c in jar if c.name == "csrftoken")
        data = urllib.parse.urlencode(form).encode()
        with opener.open(f"{self.url}/accounts/login/", data, timeout=10) as response:
            landed = urllib.parse.urlparse(response.geturl()).path
        return None if landed.startswith("/accounts/login/") else opener

    def ctrl_c(self, timeout: float = 30.0) -> int:
        """Send SIGINT to the launcher's process group, as a terminal's Ctrl-C does."""
        assert self.process is not None
        os.killpg(self.process.pid, signal.SIGINT)
        return self.process.wait(timeout)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-4000:] if self.log_path else ""

    def kill_leftovers(self) -> None:
        for pid in processes_marked(self.mark):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
