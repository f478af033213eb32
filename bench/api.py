"""API benchmark: streamed tokens/s over the OpenAI-compatible API (SSE through daphne) vs raw
lmcore, with the playground's websocket measured in the same run for reference. Prints one
JSON object; progress lines go to stderr.

    .venv/bin/python bench/api.py [--tokens 200] [--runs 5] [--threads 1] [--device auto]

What runs: a private Redis, a migrated SQLite database in a temp dir, a real `celery worker -Q
gpu_infer --pool threads` subprocess, daphne serving `webapp.asgi` on a local port, and the
official `openai` client streaming `/v1/completions` (key → view → Redis → task → Redis Stream
→ XREAD → SSE over TCP). The model and raw path are bench/playground.py's: 4 layers x 4 heads
x 128 wide, context 256, random weights over a 512-token vocabulary; `raw` is `Engine.generate`
in this process with the same checkpoint, settings and seeds, timed from the call to its done
event; `api` from the request to the stream's end; `websocket` is bench/playground.py's client
(the ASGI app in this process, no TCP leg). Raw, websocket and API runs alternate, so the
three ratios share the machine's load. `decode_ratio` counts only tokens after the
first chunk over the time after it (leaves out enqueue, pickup and connection set-up).
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
_spec = importlib.util.spec_from_file_location("bench_playground", ROOT / "bench" / "playground.py")
playground = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(playground)  # its checkpoint and raw path, shared


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def api_generate(client, params: dict) -> dict:
    start, first, last, text, tokens = time.perf_counter(), None, None, [], 0
    stream = client.completions.create(model="bench", prompt="the mouse", stream=True,
                                       stream_options={"include_usage": True}, **params)  # fmt: skip
    headers = time.perf_counter()
    for chunk in stream:
        if chunk.choices and chunk.choices[0].text:
            first = first or time.perf_counter()
            last = time.perf_counter()
            text.append(chunk.choices[0].text)
        if chunk.usage:
            tokens = chunk.usage.completion_tokens
    end = time.perf_counter()
    return {"text": "".join(text), "tokens": tokens, "seconds": end - start,
            "after_first_s": end - first, "headers_s": headers - start, "tail_s": end - last,
            "chunks": len(text)}  # fmt: skip


def wait_for_server(url: str, process: subprocess.Popen) -> None:
    import urllib.error
    import urllib.request

    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit("daphne exited")
        try:
            urllib.request.urlopen(f"{url}/v1/models", timeout=2)
        except urllib.error.HTTPError:
            return  # 401: up
        except OSError:
            time.sleep(0.2)
    raise SystemExit("daphne did not start")


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--tokens", type=int, default=200)
    p.add_argument("--runs", type=int, default=5)
    p.add_argument("--threads", type=int, default=1, help="torch intra-op threads (both sides)")
    p.add_argument("--device", default="auto")
    args = p.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bench-api-"))
    from webapp.devstack.localredis import free_port, start_local_redis

    redis = start_local_redis(tmp / "redis")
    os.environ.update({
        "REDIS_URL": redis.url, "BOTTEGA_VAR_DIR": str(tmp / "var"), "PYTHONPATH": str(ROOT),
        "BOTTEGA_PLAYGROUND_REQUESTS_PER_MINUTE": "1000000", "BOTTEGA_PLAYGROUND_PICKUP_TIMEOUT_S": "600",
        "BOTTEGA_INFER_TORCH_THREADS": str(args.threads), "BOTTEGA_PLAYGROUND_DEVICE": args.device,
        "BOTTEGA_PLAYGROUND_MAX_NEW_TOKENS": str(args.tokens), "DJANGO_SETTINGS_MODULE": "webapp.settings",
        "SECRET_KEY": "bench-only-secret", "DEBUG": "true",
    })  # fmt: skip
    processes: list[subprocess.Popen] = []
    try:
        import django

        django.setup()
        import shutil

        import torch
        from django.contrib.auth import get_user_model
        from django.core.management import call_command
        from openai import OpenAI

        from webapp.api.models import ApiKey
        from webapp.registry.models import ModelVersion

        torch.set_num_threads(args.threads)
        call_command("migrate", verbosity=0)
        log("building the checkpoint")
        checkpoint = playground.build_checkpoint(tmp)
        user = get_user_model().objects.create_user("bench")
        version = ModelVersion.objects.create(owner=user, name="bench", version=1, params=1, step=0)
        shutil.copytree(checkpoint, version.directory)
        _, key = ApiKey.issue(user, "bench")
        log("starting the gpu_infer worker and daphne")
        quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL, "cwd": ROOT}
        processes.append(subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "workers", "worker", "-Q", "gpu_infer", "--pool",
             "threads", "--concurrency", "4", "-l", "WARNING"], **quiet))  # fmt: skip
        port = free_port()
        processes.append(subprocess.Popen(
            [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port),
             "webapp.asgi:application"], **quiet))  # fmt: skip
        url = f"http://127.0.0.1:{port}"
        wait_for_server(url, processes[-1])
        client = OpenAI(base_url=f"{url}/v1", api_key=key, max_retries=0, timeout=600)
        engine, prompt = playground.raw_engine(checkpoint, args)
        from lmcore.tokenizer import Tokenizer

        tokenizer = Tokenizer.load(checkpoint)
        cookie = playground.session_cookie(user)
        log("warm-up (the worker loads the model), then raw, websocket and API runs in turn")
        raw, api, ws = [], [], []
        for seed in range(-1, args.runs):  # seed -1: warm-up, not reported
            r = playground.raw_generate(engine, prompt, {"max_new_tokens": args.tokens,
                                        "temperature": 1.0, "top_logprobs": 5, "seed": max(seed, 0)})  # fmt: skip
            w = asyncio.run(playground.ws_generate(cookie, version.pk, {
                "max_new_tokens": args.tokens, "temperature": 1.0, "top_logprobs": 5,
                "seed": max(seed, 0)}, f"w{seed + 1}"))  # fmt: skip
            a = api_generate(client, {"max_tokens": args.tokens, "temperature": 1.0, "logprobs": 5,
                                      "seed": max(seed, 0)})  # fmt: skip
            if seed >= 0:
                raw.append(r)
                ws.append(w)
                api.append(a)
        # The end-of-text token ends a text without adding to it (the engine's rule).
        texts = [tokenizer.decode([i for i in r["ids"] if i != tokenizer.eot_id]) for r in raw]
        same = all(t == a["text"] for t, a in zip(texts, api, strict=True))
        ws_rate = sum(len(w["ids"]) for w in ws) / sum(w["seconds"] for w in ws)
        raw_rate = sum(len(r["ids"]) for r in raw) / sum(r["seconds"] for r in raw)
        api_rate = sum(a["tokens"] for a in api) / sum(a["seconds"] for a in api)
        raw_decode = sum(len(r["ids"]) - 1 for r in raw) / sum(r["after_first_s"] for r in raw)
        api_decode = sum(a["tokens"] - 1 for a in api) / sum(a["after_first_s"] for a in api)
        print(json.dumps({
            "device": args.device, "threads": args.threads, "tokens": args.tokens, "runs": args.runs,
            "raw_tokens_per_s": round(raw_rate, 1), "api_sse_tokens_per_s": round(api_rate, 1),
            "ratio": round(api_rate / raw_rate, 3), "same_text": same,
            "websocket_tokens_per_s": round(ws_rate, 1), "websocket_ratio": round(ws_rate / raw_rate, 3),
            "raw_decode_tokens_per_s": round(raw_decode, 1),
            "api_decode_tokens_per_s": round(api_decode, 1),
            "decode_ratio": round(api_decode / raw_decode, 3),
            # Where the API's time goes, mean per request: to the response headers (key,
            # admission, queue, pickup), after the last text chunk (done, usage, [DONE]).
            "api_headers_ms": round(1000 * sum(a["headers_s"] for a in api) / len(api), 1),
            "api_tail_ms": round(1000 * sum(a["tail_s"] for a in api) / len(api), 1),
            "api_chunks_per_request": round(sum(a["chunks"] for a in api) / len(api), 1),
            "raw_seconds_per_request": round(sum(r["seconds"] for r in raw) / len(raw), 3),
            "api_seconds_per_request": round(sum(a["seconds"] for a in api) / len(api), 3),
        }, indent=2))  # fmt: skip
        return 0
    finally:
        for process in reversed(processes):
            process.terminate()
            process.wait(30)
        redis.stop()


if __name__ == "__main__":
    sys.exit(main())
