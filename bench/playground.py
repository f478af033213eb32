"""Playground benchmark: tokens/s through the websocket path vs raw lmcore, time to first token,
and N concurrent streams. Prints one JSON object; progress lines go to stderr.

    .venv/bin/python bench/playground.py [--tokens 200] [--runs 5] [--streams 50]
        [--stream-tokens 50] [--threads 1] [--concurrency 50] [--device auto|cpu|cuda]

What runs: a private Redis, a migrated SQLite database in a temp dir, a real `celery worker
-Q gpu_infer --pool threads` subprocess, and the ASGI application in this process driven by
Channels' WebsocketCommunicator (consumer → Redis → task → Redis Stream → XREAD → socket;
the daphne/TCP framing leg is the one part not measured). The model: 4 layers x 4 heads x 128
wide, context 256, random weights over a 512-token BPE vocabulary (random weights cost what
trained ones do). `raw` is `Engine.generate` in this process with the same checkpoint, settings
and seeds (so the same tokens), timed from the call to its done event; `websocket` is timed
from sending `generate` to receiving `done`. The ratio (target >= 0.9) is what to read on a
shared machine; `decode_ratio` leaves out the fixed per-request costs (enqueue, pickup,
connect) by counting only tokens after the first over the time after it. TTFT is client-side, send to first `tokens` message, model already cached.
Concurrent streams: one user each (one active generation per user), all sent at once.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--tokens", type=int, default=200)
    p.add_argument("--runs", type=int, default=5)
    p.add_argument("--streams", type=int, default=50)
    p.add_argument("--stream-tokens", type=int, default=50)
    p.add_argument("--threads", type=int, default=1, help="torch intra-op threads (both sides)")
    p.add_argument("--concurrency", type=int, default=50, help="worker threads")
    p.add_argument("--device", default="auto")
    return p.parse_args()


def build_checkpoint(directory: Path) -> Path:
    import torch

    from lmcore.checkpoint import save_checkpoint
    from lmcore.config import GPTConfig
    from lmcore.model import GPT
    from lmcore.preparation import train_held_out_tokenizer
    from lmcore.tokenizer import TokenizerConfig

    rng = random.Random(0)
    words = ["the", "mouse", "ate", "cheese", "cat", "città", "perché", "naïve", "and", "sat"]
    corpus = directory / "corpus.txt"
    corpus.write_text(
        "\n".join(" ".join(rng.choice(words) for _ in range(12)) for _ in range(2000))
    )
    tokenizer = train_held_out_tokenizer([corpus], TokenizerConfig(vocab_size=512, min_frequency=1))
    config = GPTConfig(
        vocab_size=tokenizer.vocab_size, context=256, n_layer=4, n_head=4, d_model=128
    )
    torch.manual_seed(0)
    return save_checkpoint(directory / "checkpoint", GPT(config).eval(), tokenizer)


def raw_engine(checkpoint: Path, args: argparse.Namespace):
    from lmcore.checkpoint import load_checkpoint
    from lmcore.device import resolve_device
    from lmcore.engine import Engine

    ck = load_checkpoint(checkpoint, resolve_device(args.device))
    tok = ck.tokenizer
    return Engine(ck.model, tok.bytes_table(), end_ids=[tok.eot_id]), tok.encode("the mouse")


def raw_generate(engine, prompt: list[int], params: dict) -> dict:
    from lmcore.sampling import SamplingParams

    start, first, ids = time.perf_counter(), None, []
    for event in engine.generate(prompt, SamplingParams.from_dict(params)):
        if event["event"] == "token":
            first = first or time.perf_counter()
            ids.append(event["id"])
    end = time.perf_counter()
    return {"ids": ids, "seconds": end - start, "after_first_s": end - first}


async def ws_generate(client_cookie: str, version: int, params: dict, rid: str) -> dict:
    from channels.testing import WebsocketCommunicator

    from webapp.asgi import application

    headers = [(b"origin", b"http://localhost"), (b"cookie", f"sessionid={client_cookie}".encode())]
    socket = WebsocketCommunicator(application, "/ws/playground/", headers=headers)
    assert (await socket.connect())[0]
    start = time.perf_counter()
    await socket.send_json_to({"type": "generate", "request_id": rid, "model_version": version,
                               "prompt": "the mouse", "params": params})  # fmt: skip
    ids, first, error = [], None, None
    while True:
        m = await socket.receive_json_from(timeout=600)
        if m["type"] == "tokens":
            first = first or time.perf_counter()
            ids += [t["id"] for t in m["tokens"]]
        elif m["type"] == "error":
            error = m["message"]
            break
        elif m["type"] == "done":
            break
    end = time.perf_counter()
    await socket.disconnect()
    return {"ids": ids, "seconds": end - start, "ttft_ms": (first - start) * 1000 if first else None,
            "after_first_s": end - first if first else None, "error": error}  # fmt: skip


def session_cookie(user) -> str:
    from django.test import Client

    client = Client()
    client.force_login(user)
    return client.cookies["sessionid"].value


def serve_bench_version(checkpoint: Path, concurrency: int):
    """A superuser's production version "bench" holding `checkpoint`, and a real `celery
    worker -Q gpu_infer --pool threads` serving it: (admin, version, worker process)."""
    import shutil

    from django.contrib.auth import get_user_model

    from webapp.registry.models import ModelVersion

    admin = get_user_model().objects.create_superuser("bench-admin", password="x")
    version = ModelVersion.objects.create(owner=admin, name="bench", version=1, params=1, step=0,
                                          status="production")  # fmt: skip
    shutil.copytree(checkpoint, version.directory)
    log("starting the gpu_infer worker")
    worker = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "workers", "worker", "-Q", "gpu_infer", "--pool",
         "threads", "--concurrency", str(concurrency), "-l", "WARNING"],
        cwd=ROOT, env={**os.environ}, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    return admin, version, worker


def main() -> int:
    args = parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bench-playground-"))
    from webapp.devstack.localredis import start_local_redis

    redis = start_local_redis(tmp / "redis")
    env = {**os.environ, "REDIS_URL": redis.url, "BOTTEGA_VAR_DIR": str(tmp / "var"),
           "BOTTEGA_PLAYGROUND_REQUESTS_PER_MINUTE": "1000000",
           "BOTTEGA_PLAYGROUND_PICKUP_TIMEOUT_S": "600", "BOTTEGA_INFER_TORCH_THREADS": str(args.threads),
           "BOTTEGA_PLAYGROUND_DEVICE": args.device,
           "BOTTEGA_PLAYGROUND_MAX_NEW_TOKENS": str(max(args.tokens, args.stream_tokens))}  # fmt: skip
    os.environ.update(env)
    os.environ["DJANGO_SETTINGS_MODULE"] = "webapp.settings"
    os.environ.update(SECRET_KEY="bench-only-secret", DEBUG="true")
    worker = None
    try:
        import django

        django.setup()
        import torch
        from django.core.management import call_command

        torch.set_num_threads(args.threads)
        call_command("migrate", verbosity=0)
        from django.contrib.auth import get_user_model

        log("building the checkpoint")
        checkpoint = build_checkpoint(tmp)
        User = get_user_model()
        admin, version, worker = serve_bench_version(checkpoint, args.concurrency)
        params = {"max_new_tokens": args.tokens, "temperature": 1.0, "top_logprobs": 5}
        engine, prompt = raw_engine(checkpoint, args)
        cookie = session_cookie(admin)
        log("warm-up (the worker loads the model), then raw and websocket runs in turn")
        raw, ws = [], []
        for seed in range(-1, args.runs):  # seed -1: warm-up, not reported
            run = {**params, "seed": max(seed, 0)}
            r = raw_generate(engine, prompt, run)
            w = asyncio.run(ws_generate(cookie, version.pk, run, f"r{seed + 1}"))
            assert w["error"] is None, w["error"]
            if seed >= 0:
                raw.append(r)
                ws.append(w)
        same = all(r["ids"] == w["ids"] for r, w in zip(raw, ws, strict=True))
        raw_rate = sum(len(r["ids"]) for r in raw) / sum(r["seconds"] for r in raw)
        ws_rate = sum(len(w["ids"]) for w in ws) / sum(w["seconds"] for w in ws)
        # Decode rate: tokens after the first message over the time after it (no fixed costs).
        raw_decode = sum(len(r["ids"]) - 1 for r in raw) / sum(r["after_first_s"] for r in raw)
        ws_decode = sum(len(w["ids"]) - len(w["ids"][:1]) for w in ws) / sum(
            w["after_first_s"] for w in ws
        )
        ttfts = sorted(w["ttft_ms"] for w in ws)
        log(f"{args.streams} concurrent streams")
        users = [User.objects.create_user(f"bench-{i}") for i in range(args.streams)]
        cookies = [session_cookie(u) for u in users]

        async def concurrent():
            stream_params = {
                "max_new_tokens": args.stream_tokens,
                "temperature": 1.0,
                "top_logprobs": 5,
            }
            return await asyncio.gather(*(ws_generate(c, version.pk, {**stream_params, "seed": i}, f"c{i}")
                                          for i, c in enumerate(cookies)))  # fmt: skip

        start = time.perf_counter()
        streams = asyncio.run(concurrent())
        wall = time.perf_counter() - start
        errors = [s["error"] for s in streams if s["error"]]
        rates = [len(s["ids"]) / s["seconds"] for s in streams if not s["error"]]
        print(json.dumps({
            "device": args.device, "threads": args.threads, "tokens": args.tokens, "runs": args.runs,
            "raw_tokens_per_s": round(raw_rate, 1), "websocket_tokens_per_s": round(ws_rate, 1),
            "ratio": round(ws_rate / raw_rate, 3), "same_tokens": same,
            "raw_decode_tokens_per_s": round(raw_decode, 1),
            "websocket_decode_tokens_per_s": round(ws_decode, 1),
            "decode_ratio": round(ws_decode / raw_decode, 3),
            "ttft_ms_p50": round(statistics.median(ttfts), 1),
            "ttft_ms_p99": round(ttfts[min(len(ttfts) - 1, int(0.99 * len(ttfts)))], 1),
            "concurrent": {"streams": args.streams, "completed": len(rates), "errors": len(errors),
                           "first_error": errors[0] if errors else None, "wall_s": round(wall, 2),
                           "per_stream_tokens_per_s_p50": round(statistics.median(rates), 1) if rates else None,
                           "per_stream_tokens_per_s_min": round(min(rates), 1) if rates else None,
                           "worker_threads": args.concurrency},
        }, indent=2))  # fmt: skip
        return 0 if not errors else 1
    finally:
        if worker is not None:
            worker.terminate()
            worker.wait(30)
        redis.stop()


if __name__ == "__main__":
    sys.exit(main())
