"""A private Redis and real `celery worker -Q gpu_infer` processes for the fault tests.

The playground's consumer runs in the test (Channels' WebsocketCommunicator, as in the other
playground tests); its Redis, its channel layer and the broker its tasks go to are a private
`redis-server` this module starts and may restart on the same port, so the session's Redis and
embedded worker are never disturbed. Tasks reach the worker process through that broker:
`send` is pointed at it (a real Celery message on a real Redis; only the address differs).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import redis
from django.conf import settings

from webapp.devstack.localredis import LocalRedis, start_local_redis

ROOT = Path(__file__).resolve().parents[3]
WORKER_TTL_S = 3  # the liveness key's TTL in the workers started here (default 10)
MAX_NEW_TOKENS = 100_000  # a generation that is still running when the fault comes


class InferStack:
    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.redis: LocalRedis = start_local_redis(workdir / "redis")
        self.port = self.redis.port
        self.workers: list[subprocess.Popen] = []

    @property
    def url(self) -> str:
        return self.redis.url

    def restart_redis(self) -> None:
        self.redis.stop()
        self.redis = start_local_redis(self.workdir / "redis", self.port)

    def start_worker(self, **extra: str) -> subprocess.Popen:
        env = {**os.environ, "REDIS_URL": self.url, "MEDIA_ROOT": str(settings.MEDIA_ROOT),
               "DATABASE_URL": f"sqlite:///{settings.DATABASES['default']['NAME']}",
               "OMP_NUM_THREADS": "1", "BOTTEGA_INFER_TORCH_THREADS": "1",
               "BOTTEGA_PLAYGROUND_WORKER_TTL_S": str(WORKER_TTL_S),
               "BOTTEGA_PLAYGROUND_MAX_NEW_TOKENS": str(MAX_NEW_TOKENS), **extra}  # fmt: skip
        n = len(self.workers)
        log = (self.workdir / f"worker-{n}.log").open("wb")
        cmd = [sys.executable, "-m", "celery", "-A", "workers", "worker", "-Q", "gpu_infer",
               "--pool", "threads", "--concurrency", "4", "-n", f"infer-{n}@%h", "-l", "INFO"]  # fmt: skip
        worker = subprocess.Popen(cmd, cwd=ROOT, env=env, start_new_session=True, stdout=log,
                                  stderr=subprocess.STDOUT)  # fmt: skip
        self.workers.append(worker)
        return worker

    def pause(self, worker: subprocess.Popen) -> None:
        os.killpg(worker.pid, signal.SIGSTOP)

    def resume(self, worker: subprocess.Popen) -> None:
        os.killpg(worker.pid, signal.SIGCONT)

    def kill(self, worker: subprocess.Popen) -> None:
        os.killpg(worker.pid, signal.SIGKILL)
        worker.wait(10)

    def keys(self, pattern: str) -> list[str]:
        with redis.Redis.from_url(self.url) as conn:
            return sorted(k.decode() for k in conn.scan_iter(pattern))

    def log(self) -> str:
        logs = sorted(self.workdir.glob("worker-*.log"))
        return "\n".join(p.read_text(errors="replace")[-3000:] for p in logs)

    def close(self) -> None:
        for worker in self.workers:
            if worker.poll() is None:
                os.killpg(worker.pid, signal.SIGKILL)
                worker.wait(10)
        self.redis.stop()


def point_web_at(stack: InferStack, settings, monkeypatch) -> None:
    """The consumer's Redis, channel layer and task broker: the stack's Redis."""
    from webapp.environment import channel_layers
    from workers.app import app

    settings.REDIS_URL = stack.url
    settings.CHANNEL_LAYERS = channel_layers(stack.url)
    settings.PLAYGROUND_MAX_NEW_TOKENS = MAX_NEW_TOKENS

    def send(name, *args, options=None, **kwargs):
        with app.connection_for_write(stack.url) as conn:
            return app.send_task(name, args=args, kwargs=kwargs, connection=conn,
                                 **(options or {}))  # fmt: skip

    monkeypatch.setattr("webapp.playground.inference.send", send)
