"""How many devices (training processes) a run may ask for: what `gpu_train` workers declare.

Each `gpu_train` worker counts its devices (`BOTTEGA_TRAIN_DEVICES`, else the NVIDIA GPUs it
sees, else its CPU cores: on a machine without GPUs a run's processes are CPU processes with
gloo) and keeps a Redis key `bottega:gpu_train:devices:<worker>` alive (a 60 s expiry,
refreshed every 20 s). The training form refuses a run that needs more devices than the
largest live worker has, instead of queueing it forever; with no worker up it checks against
this machine's own count, the configuration the workers would start with.

Counting GPUs reads /proc (or CUDA_VISIBLE_DEVICES), not torch: neither the web process nor
the worker's main process loads PyTorch (docs/architecture.md, "Configs without torch").
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from pathlib import Path

import redis
from django.conf import settings

from webapp.system.outage import OutageLog

logger = logging.getLogger(__name__)

KEY_PREFIX = "bottega:gpu_train:devices:"
TTL_S, REFRESH_S = 60, 20
_declaring: dict[str, threading.Event] = {}
_outage = OutageLog(logger, "declaring the gpu_train devices")  # one line per outage


def local_devices() -> int:
    """This machine's devices for training: the setting, else GPUs, else CPU cores."""
    if settings.TRAIN_DEVICES:
        return settings.TRAIN_DEVICES
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None:
        gpus = len([d for d in visible.split(",") if d.strip() and d.strip() != "-1"])
    else:
        nvidia = Path("/proc/driver/nvidia/gpus")
        gpus = len(list(nvidia.iterdir())) if nvidia.is_dir() else 0
    return gpus or os.cpu_count() or 1


def _client() -> redis.Redis:
    return redis.Redis.from_url(settings.REDIS_URL, socket_timeout=2, socket_connect_timeout=2)


def declared_devices() -> list[int]:
    """What each live gpu_train worker declared (empty when none is up or Redis is away)."""
    try:
        with _client() as conn:
            keys = list(conn.scan_iter(match=f"{KEY_PREFIX}*", count=100))
            values = conn.mget(keys) if keys else []
    except redis.RedisError:
        return []
    return [int(v) for v in values if v is not None]


def max_devices() -> int:
    """The most devices one run may ask for."""
    return max(declared_devices(), default=0) or local_devices()


def start_declaring(worker: str | None = None) -> None:
    """Keep this worker's declaration alive from a daemon thread, until stop_declaring()."""
    key = f"{KEY_PREFIX}{worker or socket.gethostname()}"
    if key in _declaring:
        return
    stop = _declaring[key] = threading.Event()

    def loop() -> None:
        while True:
            try:
                with _client() as conn:
                    conn.set(key, local_devices(), ex=TTL_S)
                _outage.worked()
            except redis.RedisError as exc:  # Redis away for a moment: the next refresh declares
                _outage.failed(exc)
            if stop.wait(REFRESH_S):
                break
        try:
            with _client() as conn:
                conn.delete(key)
        except redis.RedisError:
            pass

    threading.Thread(target=loop, name="declare-devices", daemon=True).start()


def stop_declaring() -> None:
    while _declaring:
        _, stop = _declaring.popitem()
        stop.set()
