"""A real `celery worker` process on gpu_train, sharing the test database and Redis, so that a
test can SIGTERM it (a deploy) or SIGKILL it (a crash) while its child trains."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from django.conf import settings

ROOT = Path(__file__).resolve().parents[3]


def start_worker(redis_url: str, log: Path) -> subprocess.Popen:
    env = {**os.environ, "DATABASE_URL": f"sqlite:///{settings.DATABASES['default']['NAME']}",
           "REDIS_URL": redis_url, "MEDIA_ROOT": str(settings.MEDIA_ROOT),
           "OMP_NUM_THREADS": "1"}  # fmt: skip
    cmd = [sys.executable, "-m", "celery", "-A", "workers", "worker", "-Q", "gpu_train",
           "--pool", "solo", "-n", f"train-{log.stem}@%h", "-l", "INFO"]  # fmt: skip
    return subprocess.Popen(cmd, cwd=ROOT, env=env, start_new_session=True,
                            stdout=log.open("wb"), stderr=subprocess.STDOUT)  # fmt: skip


def children_of(pid: int) -> list[int]:
    """Live direct children of a process (from /proc), e.g. a worker's training child."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(stat[1]) == pid and stat[0] != "Z":
                found.append(int(entry.name))
    return found


def is_running(pid: int) -> bool:
    try:
        return (Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]) != "Z"
    except OSError:
        return False


def stop_worker(worker: subprocess.Popen) -> int:
    """SIGTERM (a deploy), time for a run to checkpoint and re-queue, then SIGKILL the group:
    no worker outlives its test."""
    if worker.poll() is None:
        worker.terminate()
        try:
            return worker.wait(150)
        except subprocess.TimeoutExpired:
            os.killpg(worker.pid, 9)
    return worker.wait(10)
