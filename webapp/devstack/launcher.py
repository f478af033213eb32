"""The run command: one process that brings up all of Bottega for development.

`python -m webapp.devstack.launcher` (what `make run` calls) sets what local use needs on top of
the production-safe settings (DEBUG on unless set, and a SECRET_KEY generated once into
`var/secret_key` and reused, unless set), checks the configuration, starts a private
Redis when REDIS_URL is unset, migrates, makes sure a first user exists, then runs every process
of the `Procfile` (web, one Celery worker per queue, beat) under honcho's process manager, with
the cores split between the inference worker's threads and each training process's.
The address and how to sign in are printed last, once the web server and every queue answer, so
they are the last lines a newcomer sees rather than lost among the workers' start-up lines.
Ctrl-C (or SIGTERM) stops them all: honcho signals each process group, then kills what is left
after a few seconds, and the private Redis is stopped last. Ctrl-C is how this command is meant
to end, so it then exits 0 (not 130), and `make run` ends without "make: *** Error 130".
"""

from __future__ import annotations

import argparse
import io
import os
import signal
import socket
import sys
import threading
import time
from pathlib import Path

from honcho.environ import parse_procfile
from honcho.manager import Manager

from lmcore.threads import usable_cores
from webapp.devstack.local_secret import use_local_secret
from webapp.devstack.localredis import start_local_redis
from webapp.system import preflight

BASE_DIR = Path(__file__).resolve().parents[2]
SIGINT_STATUS = 128 + signal.SIGINT  # what honcho returns after a SIGINT
INFER, TRAIN = "BOTTEGA_INFER_TORCH_THREADS", "BOTTEGA_TRAIN_TORCH_THREADS"


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m webapp.devstack.launcher", description=__doc__)
    parser.add_argument("--host", default=os.environ.get("HOST", "127.0.0.1"))
    parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8000")))
    return parser.parse_args(argv)


def _environment(args: argparse.Namespace, redis_url: str, var_dir: Path) -> dict[str, str]:
    env = dict(os.environ)
    bin_dir = str(Path(sys.executable).parent)  # the virtualenv's daphne and celery
    env.update(
        PATH=bin_dir + os.pathsep + env.get("PATH", ""),
        DJANGO_SETTINGS_MODULE="webapp.settings",
        REDIS_URL=redis_url,
        HOST=args.host,
        PORT=str(args.port),
        BOTTEGA_VAR_DIR=str(var_dir),
        CPU_CONCURRENCY=env.get("CPU_CONCURRENCY", str(min(4, os.cpu_count() or 1))),
        PYTHONUNBUFFERED="1",
    )
    infer, train = split_cores(usable_cores(), env.get(INFER), env.get(TRAIN))
    env.update({INFER: str(infer), TRAIN: str(train)})
    return env


def split_cores(cores: int, infer: str | None = None, train: str | None = None) -> tuple[int, int]:
    """(inference, training) intra-op threads on one machine: what the operator set (0, less or
    unset: not set), else half the cores each (inference rounded down, at least 1 each), so a
    run training beside the playground does not fight it for every core.
    `split_cores(2) == (1, 1)`, `split_cores(16, infer="12") == (12, 4)`."""
    infer_n = max(0, int(infer or 0)) or max(1, cores // 2)
    return infer_n, max(0, int(train or 0)) or max(1, cores - infer_n)


def _local_defaults(var_dir: Path) -> None:
    """Set DEBUG and SECRET_KEY in this process's environment (its children inherit it) where
    the operator has not: local use needs readable static files and cookies over plain http
    (DEBUG on), and a secret that survives restarts so sessions do."""
    os.environ.setdefault("DEBUG", "true")
    use_local_secret(var_dir, create=True)


def _prepare(url: str) -> str:
    """Settings, database, migrations and the first user; ConfigError on bad configuration.
    Returns how to sign in (one line)."""
    preflight.check_settings()
    preflight.check_database()
    from django.core.management import call_command

    call_command("migrate", interactive=False, verbosity=0)
    sign_in = io.StringIO()
    call_command("ensure_first_user", url=url, stdout=sign_in, no_color=True)
    return sign_in.getvalue().strip()


def _all_up(host: str, port: int) -> bool:
    """The web server accepts connections and every queue's worker is alive: what /healthz
    checks, asked in-process so that start-up logs no 503 per poll."""
    from webapp.system import probes

    try:
        socket.create_connection((host, port), timeout=2).close()
        queues = probes.probe_queue_health()
    except Exception:  # not listening yet, Redis starting...: not up; never kill the thread
        return False
    return bool(queues) and all(q["ok"] for q in queues)


def _announce_when_up(host: str, port: int, sign_in: str, timeout: float = 180.0) -> None:
    """Wait until the web server and every queue answer, then print `sign_in`."""
    host = "127.0.0.1" if host in ("", "0.0.0.0", "::") else host
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if _all_up(host, port):
            print(f"\nBottega is up. {sign_in}\n", flush=True)
            return
        time.sleep(1.0)
    print(f"\nNot every service answered within {timeout:g} s (see /status/). {sign_in}\n",
          flush=True)  # fmt: skip


def _exit_status(returncode: int | None) -> int:
    """honcho's status, except after Ctrl-C: 130 (its SIGINT code) is the normal way to stop,
    and make reports any non-zero status of its command as an error."""
    return 0 if returncode in (None, SIGINT_STATUS) else returncode


def main(argv: list[str] | None = None) -> int:
    args = _parse_args(argv)
    var_dir = Path(os.environ.get("BOTTEGA_VAR_DIR", BASE_DIR / "var")).resolve()
    local_redis = None
    _local_defaults(var_dir)
    try:
        redis_url = os.environ.get("REDIS_URL", "")
        if redis_url:
            preflight.check_redis(redis_url)
        else:
            local_redis = start_local_redis(var_dir / "redis")
            redis_url = local_redis.url
            print(f"Started a private Redis at {redis_url} (set REDIS_URL to use your own).")
        os.environ["REDIS_URL"] = redis_url  # for this process's Django settings too
        sign_in = _prepare(f"http://{args.host}:{args.port}/")
        print(
            "Starting the web server, the workers and beat; how to sign in comes when all are up."
        )
        announcer = threading.Thread(
            target=_announce_when_up,
            args=(args.host, args.port, sign_in),
            name="announce",
            daemon=True,
        )
        announcer.start()
        manager = Manager()
        env = _environment(args, redis_url, var_dir)
        print(f"Threads: {env[INFER]} for inference, {env[TRAIN]} per training process, of "
              f"{usable_cores()} cores (set {INFER} and {TRAIN} to change).")  # fmt: skip
        procfile = parse_procfile((BASE_DIR / "Procfile").read_text())
        for name, command in procfile.processes.items():
            manager.add_process(name, command, env=env, cwd=str(BASE_DIR))
        manager.loop()
        return _exit_status(manager.returncode)
    except preflight.ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    finally:
        if local_redis is not None:
            local_redis.stop()


if __name__ == "__main__":
    raise SystemExit(main())
