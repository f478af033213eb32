"""Evaluation benchmark: a held-out cloze task scored in process (lmcore/harness.py) and by
lm-evaluation-harness's own `local-completions` through the OpenAI-compatible API, side by
side on the same version and items. Prints one JSON object; progress lines go to stderr.

    .venv/bin/python bench/evaluate.py [--items 1000] [--threads 1] [--device auto]

What runs: the `small` preset's shape (6 layers x 6 heads x 384 wide, context 256; ~10 M
parameters) with random weights (throughput does not depend on them) over a byte-level BPE of
2,048 tokens trained on a synthetic corpus, whose validation tail gives `--items` cloze items
(4 choices each: 4 loglikelihood requests an item). `in_process`: `LmcoreLM` + the harness in
this process. `api`: a private Redis, a migrated SQLite database, a real `celery worker -Q
gpu_infer --pool threads` subprocess, daphne, and `lm_eval`'s local-completions client
(tokenized_requests=False, the tokenizer from the version's transformers export,
num_concurrent=1: one generation per user at a time), each request an echo with max_tokens 1.
The key gets a rate above the default (the admin's per-key field), since 4,000 requests do not
fit 30 a minute. Both report accuracy, which must agree.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

WORDS = ["the", "mouse", "ate", "cheese", "and", "the", "cat", "slept", "while", "rain", "fell", "on", "the", "old", "town", "of", "città", "perché", "naïve", "words", "come", "and", "go", "in", "every", "language", "日本語", "too"]  # fmt: skip


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def build(tmp: Path, items: int) -> tuple[Path, Path]:
    """(checkpoint, corpus): the corpus long enough for `items` cloze passages in its tail."""
    import torch

    from lmcore.checkpoint import save_checkpoint
    from lmcore.model import GPT
    from lmcore.preparation import train_held_out_tokenizer
    from lmcore.presets import configs_from_preset
    from lmcore.tokenizer import TokenizerConfig

    rng = random.Random(0)
    corpus = tmp / "corpus.txt"
    chars = items * 420 * 11  # each passage's slot is ~410 characters; the tail is a tenth
    lines, size = [], 0
    while size < chars:
        line = " ".join(rng.choice(WORDS) for _ in range(rng.randint(4, 16))) + ".\n"
        lines.append(line)
        size += len(line)
    corpus.write_text("".join(lines), encoding="utf-8")
    tokenizer = train_held_out_tokenizer([corpus], TokenizerConfig(vocab_size=2048))
    config, _ = configs_from_preset("small", tokenizer.vocab_size)
    torch.manual_seed(0)
    model = GPT(config).eval()
    return save_checkpoint(
        tmp / "checkpoint", model, tokenizer, train_config={"bos_token": "<|endoftext|>"}
    ), corpus


def in_process(checkpoint: Path, task: dict, device: str) -> dict:
    from lmcore.checkpoint import load_checkpoint
    from lmcore.device import resolve_device
    from lmcore.harness import LmcoreLM, load_task, run_task

    lm = LmcoreLM(load_checkpoint(checkpoint, resolve_device(device)))
    harness_task = load_task(task)
    start = time.perf_counter()
    result = run_task(lm, harness_task, bootstrap_iters=100)
    return {"seconds": time.perf_counter() - start, "acc": result["metrics"]["acc"]["value"],
            "n": result["n"]}  # fmt: skip


def over_api(url: str, key: str, hf_dir: Path, task: dict) -> dict:
    import lm_eval
    from lm_eval.tasks import TaskManager

    os.environ["OPENAI_API_KEY"] = key
    start = time.perf_counter()
    out = lm_eval.simple_evaluate(
        model="local-completions",
        model_args={"model": "bench", "base_url": f"{url}/v1/completions", "tokenizer": str(hf_dir),
                    "tokenizer_backend": "huggingface", "tokenized_requests": False,
                    "num_concurrent": 1, "max_length": 256, "max_retries": 1},
        tasks=[task], task_manager=TaskManager(include_defaults=False), bootstrap_iters=100,
    )  # fmt: skip
    name = task["task"]
    return {"seconds": time.perf_counter() - start, "acc": out["results"][name]["acc,none"],
            "n": out["n-samples"][name]["effective"]}  # fmt: skip


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--items", type=int, default=1000)
    p.add_argument("--threads", type=int, default=1, help="torch intra-op threads (both sides)")
    p.add_argument("--device", default="auto")
    args = p.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bench-evaluate-"))
    bench_api = _load_bench_api()
    from webapp.devstack.localredis import free_port, start_local_redis

    redis = start_local_redis(tmp / "redis")
    os.environ.update({
        "REDIS_URL": redis.url, "BOTTEGA_VAR_DIR": str(tmp / "var"), "PYTHONPATH": str(ROOT),
        "BOTTEGA_PLAYGROUND_PICKUP_TIMEOUT_S": "600", "BOTTEGA_INFER_TORCH_THREADS": str(args.threads),
        "BOTTEGA_PLAYGROUND_DEVICE": args.device, "DJANGO_SETTINGS_MODULE": "webapp.settings",
        "SECRET_KEY": "bench-only-secret", "DEBUG": "true", "MEDIA_ROOT": str(tmp / "media"),
    })  # fmt: skip
    processes: list[subprocess.Popen] = []
    try:
        import django

        django.setup()
        import shutil

        import torch
        from django.contrib.auth import get_user_model
        from django.core.management import call_command

        from lmcore.cloze import ClozeConfig, cloze_task
        from lmcore.hf_export import export_hf
        from webapp.api.models import ApiKey
        from webapp.registry.models import ModelVersion

        torch.set_num_threads(args.threads)
        call_command("migrate", verbosity=0)
        log("building the checkpoint and the corpus")
        checkpoint, corpus = build(tmp, args.items)
        task = cloze_task(corpus, ClozeConfig(items=args.items), tmp, name="cloze_bench")
        export_hf(checkpoint, tmp / "hf")
        user = get_user_model().objects.create_user("bench")
        version = ModelVersion.objects.create(owner=user, name="bench", version=1, params=1, step=0)
        shutil.copytree(checkpoint, version.directory)
        key_row, key = ApiKey.issue(user, "bench")
        ApiKey.objects.filter(pk=key_row.pk).update(requests_per_minute=1_000_000)
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
        bench_api.wait_for_server(url, processes[-1])
        log(f"in process: {args.items} items")
        local = in_process(checkpoint, task, args.device)
        log(f"through the API: {args.items} items")
        remote = over_api(url, key, tmp / "hf", task)
        print(json.dumps({
            "items": local["n"], "requests_per_item": 4, "device": args.device,
            "threads": args.threads,
            "in_process_items_per_s": round(local["n"] / local["seconds"], 2),
            "api_items_per_s": round(remote["n"] / remote["seconds"], 2),
            "speedup": round((local["n"] / local["seconds"]) / (remote["n"] / remote["seconds"]), 1),
            "in_process_acc": local["acc"], "api_acc": remote["acc"],
            "same_acc": local["acc"] == remote["acc"],
        }, indent=2))  # fmt: skip
        return 0
    finally:
        for process in reversed(processes):
            process.terminate()
            process.wait(30)
        redis.stop()


def _load_bench_api():
    import importlib.util

    spec = importlib.util.spec_from_file_location("bench_api", ROOT / "bench" / "api.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)  # its wait_for_server
    return module


if __name__ == "__main__":
    sys.exit(main())
