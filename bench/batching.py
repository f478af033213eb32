"""Continuous batching vs the thread-per-request worker it replaced: aggregate tokens/s and time
to first token at 1, 8, 32 and 64 concurrent websocket streams, side by side in one run.
Prints one JSON object; progress lines go to stderr.

    .venv/bin/python bench/batching.py [--levels 1 8 32 64] [--tokens 64] [--repeat 5]
        [--threads 1] [--device cpu] [--preset small] [--baseline REF | --old-tree DIR]

What runs: a private Redis, a migrated SQLite database in a temp dir, and two real
`celery worker --pool threads` subprocesses, each on its own queue: `new` from this checkout
(workers/inference.py: one loop per model, one batched forward per step) and `old` from a
`git worktree` of REF (default: the parent of the commit that added lmcore/scheduler.py, the
worker that served each request on its own thread with a batch-1 forward per token; it gets
as many threads as the largest level, so no request of it waits for a thread). The ASGI app
runs in this process, driven by Channels' WebsocketCommunicator (consumer -> Redis -> task
-> Redis Stream -> XREAD -> socket), its task sends routed to the worker under test.
Model: the `--preset` shape (small: 6 layers x 6 heads x 384 wide, context 256) with random
weights over a 2,048-token BPE vocabulary (random weights cost what trained ones do).

Each level sends N generate messages at once from N users (one active generation each),
temperature 1, 5 alternatives per token, `--tokens` new tokens, seeds 0..N-1, the two
workers taking turns level by level. Aggregate tokens/s = tokens received by all streams /
wall seconds from the first send to the last `done`. TTFT = send -> first `tokens` message,
client side, per stream (model already loaded); p50/p99 over the level's streams, and at a
level of 1 over `--repeat` sequential requests per worker, old and new alternating request
by request (on a shared machine the load drifts within seconds). Both workers see the same
seeds, so `same_tokens` says whether they sent the same text.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.playground import log, session_cookie  # noqa: E402


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--levels", type=int, nargs="+", default=[1, 8, 32, 64])
    p.add_argument("--tokens", type=int, default=64, help="new tokens per stream")
    p.add_argument("--repeat", type=int, default=5, help="sequential requests at level 1")
    p.add_argument("--threads", type=int, default=1, help="torch intra-op threads per worker")
    p.add_argument("--device", default="cpu")
    p.add_argument("--preset", default="small")
    p.add_argument("--baseline", default=None, help="git ref of the old worker")
    p.add_argument("--old-tree", type=Path, default=None,
                   help="a checkout of the old worker to use instead of a git worktree of "
                        "--baseline (where there is no git history: the GPU machine, "
                        "bench/gpu.sh); its BASELINE file, if any, names the ref")  # fmt: skip
    args = p.parse_args()
    if args.old_tree is not None and not (args.old_tree / "workers").is_dir():
        p.error(f"--old-tree {args.old_tree}: not a checkout (no workers/ folder)")
    return args


def baseline_ref() -> str:
    added = subprocess.run(
        ["git", "log", "--diff-filter=A", "--format=%H", "--", "lmcore/scheduler.py"],
        cwd=ROOT, capture_output=True, text=True, check=True,
    ).stdout.split()  # fmt: skip
    return f"{added[-1]}^"


def build_checkpoint(directory: Path, preset_name: str) -> Path:
    import random

    import torch

    from lmcore.checkpoint import save_checkpoint
    from lmcore.config import GPTConfig
    from lmcore.model import GPT
    from lmcore.preparation import train_held_out_tokenizer
    from lmcore.presets import PRESETS
    from lmcore.tokenizer import TokenizerConfig

    preset = PRESETS[preset_name]
    rng = random.Random(0)
    syllables = ["ka", "lo", "mi", "ré", "tu", "sa", "ne", "po", "gli", "chi", "str", "ò", "the",
                 "and", "mou", "se", "ca", "t", "ch", "ee", "città", "per", "ché"]  # fmt: skip
    words = ["".join(rng.choice(syllables) for _ in range(rng.randint(1, 4))) for _ in range(6000)]
    corpus = directory / "corpus.txt"
    lines = (" ".join(rng.choice(words) for _ in range(12)) for _ in range(20000))
    corpus.write_text("\n".join(lines), encoding="utf-8")
    tokenizer = train_held_out_tokenizer([corpus], TokenizerConfig(vocab_size=preset.vocab_size))
    shape = {**preset.model, "dropout": 0.0}
    torch.manual_seed(0)
    model = GPT(GPTConfig(vocab_size=tokenizer.vocab_size, **shape)).eval()
    return save_checkpoint(directory / "checkpoint", model, tokenizer)


def start_worker(name: str, cwd: Path, queue: str, threads: int, env: dict) -> subprocess.Popen:
    log(f"starting the {name} worker ({cwd})")
    return subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "workers", "worker", "-Q", queue, "-n",
         f"{name}@%h", "--pool", "threads", "--concurrency", str(threads), "-l", "WARNING"],
        # The worker imports its own checkout first, then whatever PYTHONPATH already held
        # (packages installed with --target, as on the GPU machine).
        cwd=cwd, env={**env, "PYTHONPATH": os.pathsep.join(
            [str(cwd), *filter(None, [os.environ.get("PYTHONPATH")])])},
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip


async def one_stream(cookie: str, version: int, params: dict, rid: str, go: asyncio.Event):
    from channels.testing import WebsocketCommunicator

    from webapp.asgi import application

    headers = [(b"origin", b"http://localhost"), (b"cookie", f"sessionid={cookie}".encode())]
    socket = WebsocketCommunicator(application, "/ws/playground/", headers=headers)
    assert (await socket.connect())[0]
    await go.wait()  # every socket is open: send together
    start = time.perf_counter()
    await socket.send_json_to({"type": "generate", "request_id": rid, "model_version": version,
                               "prompt": "the mouse", "params": params})  # fmt: skip
    ids, first = [], None
    while True:
        m = await socket.receive_json_from(timeout=600)
        if m["type"] == "tokens":
            first = first or time.perf_counter()
            ids += [t["id"] for t in m["tokens"]]
        elif m["type"] in ("done", "error"):
            break
    end = time.perf_counter()
    await socket.disconnect()
    assert m["type"] == "done", m
    return {"ids": ids, "start": start, "end": end, "ttft_s": first - start}


async def level(cookies: list[str], version: int, n: int, tokens: int, tag: str) -> list[dict]:
    go = asyncio.Event()
    params = {"max_new_tokens": tokens, "temperature": 1.0, "top_logprobs": 5}
    runs = [asyncio.create_task(one_stream(cookies[i], version, {**params, "seed": i},
                                           f"{tag}-{i}", go)) for i in range(n)]  # fmt: skip
    await asyncio.sleep(0.5)  # let every socket connect (not timed)
    go.set()
    return await asyncio.gather(*runs)


def summary(streams: list[dict], sequential: bool = False) -> dict:
    """Aggregate tokens/s over the wall time (for sequential requests: their summed time)
    and TTFT p50/p99 over the streams."""
    ttfts = sorted(s["ttft_s"] * 1000 for s in streams)
    if sequential:
        wall = sum(s["end"] - s["start"] for s in streams)
    else:
        wall = max(s["end"] for s in streams) - min(s["start"] for s in streams)
    tokens = sum(len(s["ids"]) for s in streams)
    p99 = ttfts[min(len(ttfts) - 1, int(0.99 * len(ttfts)))]
    return {"tokens": tokens, "wall_s": round(wall, 2), "tokens_per_s": round(tokens / wall, 1),
            "ttft_ms_p50": round(statistics.median(ttfts), 1), "ttft_ms_p99": round(p99, 1)}  # fmt: skip


def main() -> int:  # noqa: PLR0915  (one linear script)
    args = parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bench-batching-"))
    if args.old_tree is not None:
        old_tree = args.old_tree.resolve()
        named = old_tree / "BASELINE"
        ref = named.read_text().strip() if named.is_file() else f"tree {old_tree}"
    else:
        ref = args.baseline or baseline_ref()
        old_tree = tmp / "old"
        subprocess.run(["git", "worktree", "add", "--detach", str(old_tree), ref], cwd=ROOT,
                       check=True, capture_output=True)  # fmt: skip
    from webapp.devstack.localredis import start_local_redis

    redis = start_local_redis(tmp / "redis")
    env = {**os.environ, "REDIS_URL": redis.url, "BOTTEGA_VAR_DIR": str(tmp / "var"),
           "MEDIA_ROOT": str(tmp / "media"), "DJANGO_SETTINGS_MODULE": "webapp.settings",
           "SECRET_KEY": "bench-only-secret", "DEBUG": "true",
           "BOTTEGA_PLAYGROUND_REQUESTS_PER_MINUTE": "1000000",
           "BOTTEGA_PLAYGROUND_PICKUP_TIMEOUT_S": "600", "BOTTEGA_INFER_TORCH_THREADS": str(args.threads),
           "BOTTEGA_PLAYGROUND_DEVICE": args.device}  # fmt: skip
    os.environ.update(env)
    workers = {}
    try:
        import django

        django.setup()
        import torch
        from django.contrib.auth import get_user_model
        from django.core.management import call_command

        from webapp.registry.models import ModelVersion
        from workers.app import app

        torch.set_num_threads(args.threads)
        call_command("migrate", verbosity=0)
        log(f"building the checkpoint ({args.preset} shape, random weights)")
        checkpoint = build_checkpoint(tmp, args.preset)
        User = get_user_model()
        admin = User.objects.create_superuser("bench-admin", password="x")
        version = ModelVersion.objects.create(owner=admin, name="bench", version=1, params=1,
                                              step=0, status="production")  # fmt: skip
        shutil.copytree(checkpoint, version.directory)
        # The old worker predates storage keys: it looks under models/user-N/NAME/vV.
        legacy = version.directory.parent / version.name / f"v{version.version}"
        legacy.parent.mkdir(parents=True, exist_ok=True)
        legacy.symlink_to(version.directory, target_is_directory=True)
        top = max(args.levels)
        workers["old"] = start_worker("old", old_tree, "bench_old", top, env)
        workers["new"] = start_worker("new", ROOT, "bench_new", 16, env)
        cookies = [session_cookie(User.objects.create_user(f"bench-{i}")) for i in range(top)]
        send_task = app.send_task
        results: dict = {"old": {}, "new": {}}
        ids: dict = {"old": {}, "new": {}}

        def route(name: str) -> None:  # the web side's task sends go to this worker's queue
            app.send_task = lambda *a, **kw: send_task(*a, **{**kw, "queue": f"bench_{name}"})

        def run(name: str, n: int, tokens: int, tag: str) -> list[dict]:
            route(name)
            return asyncio.run(level(cookies, version.pk, n, tokens, f"{name}-{tag}"))

        for name in ("old", "new"):
            run(name, 1, 4, "warm-up")  # the worker loads the model
        for n in args.levels:
            if n == 1:  # sequential requests, alternating old/new: load drifts between them
                log(f"1 stream x {args.tokens} tokens, {args.repeat} requests each, alternating")
                streams = {"old": [], "new": []}
                for r in range(args.repeat):
                    for name in ("old", "new"):
                        streams[name] += run(name, 1, args.tokens, f"1-{r}")
                for name in ("old", "new"):
                    results[name][n] = summary(streams[name], sequential=True)
                    ids[name][n] = [s["ids"] for s in streams[name]]
                    log(f"  {name}: {results[name][n]}")
                continue
            for name in ("old", "new"):
                log(f"{name}: {n} streams x {args.tokens} tokens")
                streams = run(name, n, args.tokens, str(n))
                results[name][n] = summary(streams)
                ids[name][n] = [s["ids"] for s in streams]
                log(f"  {results[name][n]}")
        app.send_task = send_task
        table = {n: {"old": results["old"][n], "new": results["new"][n],
                     "speedup": round(results["new"][n]["tokens_per_s"] / results["old"][n]["tokens_per_s"], 2),
                     "same_tokens": ids["old"][n] == ids["new"][n]} for n in args.levels}  # fmt: skip
        print(json.dumps({"device": args.device, "preset": args.preset, "threads": args.threads,
                          "tokens_per_stream": args.tokens, "baseline": ref,
                          "load_average": os.getloadavg(), "levels": table}, indent=2))  # fmt: skip
        return 0
    finally:
        for worker in workers.values():
            worker.terminate()
            worker.wait(30)
        redis.stop()
        if args.old_tree is None:
            subprocess.run(["git", "worktree", "remove", "--force", str(old_tree)], cwd=ROOT,
                           capture_output=True)  # fmt: skip


if __name__ == "__main__":
    sys.exit(main())
