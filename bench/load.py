"""Load: N websocket clients generating at once and M concurrent uploads, for a while.

    .venv/bin/python bench/load.py [--seconds 20] [--clients 100] [--uploads 10]
        [--upload-mib 4] [--tokens 32] [--concurrency 16]

What runs (as bench/playground.py): a private Redis, a migrated SQLite database in a temp dir,
a real `celery worker -Q gpu_infer --pool threads` subprocess serving bench/playground.py's
model (4 layers x 4 heads x 128, context 256, random weights), and the ASGI application in
this process: each of `--clients` users (one active generation per user) has a websocket
(Channels' WebsocketCommunicator) and asks for `--tokens` tokens again and again; meanwhile
`--uploads` threads, each another user, upload `--upload-mib` MiB corpora in 1 MiB chunks
through `PUT /corpora/uploads/<id>/` (Django's test client: the view, the claim, the disk)
again and again. Until `--seconds` have passed, then every started request is finished.
Prints one JSON object: errors (must be 0), time to first token (send -> first `tokens`)
p50/p99, streams and tokens/s, upload MiB/s over all uploads. Progress goes to stderr.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from playground import build_checkpoint, serve_bench_version, session_cookie  # noqa: E402  (bench/playground.py)

CHUNK = 1 << 20


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seconds", type=float, default=20.0, help="how long new requests start")
    p.add_argument("--clients", type=int, default=100)
    p.add_argument("--uploads", type=int, default=10)
    p.add_argument("--upload-mib", type=int, default=4)
    p.add_argument("--tokens", type=int, default=32)
    p.add_argument("--concurrency", type=int, default=16, help="gpu_infer worker threads")
    return p.parse_args()


def percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 1)


async def client(cookie: str, version: int, n: int, args, until: float, out: dict) -> None:
    from channels.testing import WebsocketCommunicator

    from webapp.asgi import application

    headers = [(b"origin", b"http://localhost"), (b"cookie", f"sessionid={cookie}".encode())]
    socket = WebsocketCommunicator(application, "/ws/playground/", headers=headers)
    if not (await socket.connect(timeout=60))[0]:
        out["errors"].append(f"client {n}: socket refused")
        return
    k = 0
    while k == 0 or time.monotonic() < until:  # at least one request each
        rid, k = f"c{n}-{k}", k + 1
        params = {"max_new_tokens": args.tokens, "temperature": 1.0, "seed": k}
        start, first = time.perf_counter(), None
        await socket.send_json_to({"type": "generate", "request_id": rid, "model_version": version,
                                   "prompt": "the mouse", "params": params})  # fmt: skip
        while True:
            try:
                m = await socket.receive_json_from(timeout=300)
            except Exception as exc:  # noqa: BLE001  (counted: the bench reports every error)
                out["errors"].append(f"{rid}: {type(exc).__name__}")
                return
            if m.get("request_id") != rid:
                continue
            if m["type"] == "tokens":
                out["tokens"] += len(m["tokens"])
                if first is None:
                    first = time.perf_counter()
                    out["ttft_ms"].append((first - start) * 1000)
            elif m["type"] == "error":
                out["errors"].append(f"{rid}: {m['message']}")
                break
            elif m["type"] == "done":
                out["streams"] += 1
                break
    await socket.disconnect()


def uploader(user, n: int, args, until: float, out: dict) -> None:
    from django.test import Client

    c = Client()
    c.force_login(user)
    size = args.upload_mib * CHUNK
    line = f"upload {n} line of text for the load bench\n".encode()
    data = (line * (size // len(line) + 1))[:size]
    k = 0
    while time.monotonic() < until:
        k += 1
        started = c.post("/corpora/uploads/", {"name": f"u{n}-{k}.txt", "size": size},
                         content_type="application/json")  # fmt: skip
        if started.status_code != 201:
            out["errors"].append(
                f"upload {n}-{k} start: {started.status_code} {started.content[:200]}"
            )
            return
        pk, t0 = started.json()["id"], time.perf_counter()
        for offset in range(0, size, CHUNK):
            r = c.put(f"/corpora/uploads/{pk}/?offset={offset}", data[offset : offset + CHUNK],
                      content_type="application/octet-stream")  # fmt: skip
            if r.status_code != 200:
                out["errors"].append(f"upload {n}-{k}@{offset}: {r.status_code} {r.content[:200]}")
                return
        with out["lock"]:
            out["upload_bytes"] += size
            out["upload_seconds"].append(time.perf_counter() - t0)


def main() -> int:
    args = parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bench-load-"))
    from webapp.devstack.localredis import start_local_redis

    redis = start_local_redis(tmp / "redis")
    os.environ.update({
        "REDIS_URL": redis.url, "BOTTEGA_VAR_DIR": str(tmp / "var"), "MEDIA_ROOT": str(tmp / "media"),
        "BOTTEGA_PLAYGROUND_REQUESTS_PER_MINUTE": "1000000", "BOTTEGA_INFER_TORCH_THREADS": "1",
        "BOTTEGA_PLAYGROUND_PICKUP_TIMEOUT_S": "300", "BOTTEGA_UPLOAD_CHUNK_BYTES": str(CHUNK),
        "DJANGO_SETTINGS_MODULE": "webapp.settings", "SECRET_KEY": "bench-only-secret",
        "DEBUG": "true", "OMP_NUM_THREADS": "1", "ALLOWED_HOSTS": "localhost,127.0.0.1,testserver",
    })  # fmt: skip
    worker = None
    try:
        import django

        django.setup()
        from django.contrib.auth import get_user_model
        from django.core.management import call_command

        call_command("migrate", verbosity=0)
        log("building the checkpoint")
        checkpoint = build_checkpoint(tmp)
        User = get_user_model()
        _, version, worker = serve_bench_version(checkpoint, args.concurrency)
        players = [User.objects.create_user(f"player-{i}") for i in range(args.clients)]
        cookies = [session_cookie(u) for u in players]
        writers = [User.objects.create_user(f"writer-{i}") for i in range(args.uploads)]
        out = {"errors": [], "ttft_ms": [], "tokens": 0, "streams": 0, "upload_bytes": 0,
               "upload_seconds": [], "lock": threading.Lock()}  # fmt: skip
        log("warm-up: the worker loads the model")
        warm = {**out, "errors": [], "ttft_ms": []}
        asyncio.run(client(cookies[0], version.pk, -1, args, 0.0, warm))
        if warm["errors"]:
            raise SystemExit(f"warm-up failed: {warm['errors']}")
        log(f"{args.clients} clients generating, {args.uploads} uploading, {args.seconds:g} s")
        start = time.monotonic()
        until = start + args.seconds
        threads = [threading.Thread(target=uploader, args=(u, i, args, until, out))
                   for i, u in enumerate(writers)]  # fmt: skip
        for t in threads:
            t.start()

        async def everyone():
            await asyncio.gather(*(client(c, version.pk, i, args, until, out)
                                   for i, c in enumerate(cookies)))  # fmt: skip

        asyncio.run(everyone())
        for t in threads:
            t.join()
        wall = time.monotonic() - start
        print(json.dumps({
            "seconds": args.seconds, "wall_s": round(wall, 1), "clients": args.clients,
            "uploads": args.uploads, "errors": len(out["errors"]),
            "first_errors": out["errors"][:5],
            "streams": out["streams"], "tokens": out["tokens"],
            "tokens_per_s": round(out["tokens"] / wall, 1),
            "ttft_ms_p50": percentile(out["ttft_ms"], 0.5),
            "ttft_ms_p99": percentile(out["ttft_ms"], 0.99),
            "uploaded_mib": round(out["upload_bytes"] / CHUNK, 1),
            "upload_mib_per_s": round(out["upload_bytes"] / CHUNK / wall, 2),
            "upload_file_s_p50": round(statistics.median(out["upload_seconds"]), 2)
            if out["upload_seconds"] else None,
        }, indent=2))  # fmt: skip
        return 0 if not out["errors"] else 1
    finally:
        if worker is not None:
            worker.terminate()
            worker.wait(30)
        redis.stop()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
