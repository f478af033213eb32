"""LoRA on a real model: what an adapter weighs and what merging it at load costs.

On SmolLM2-135M-Instruct (tests/smollm2.py: the cached `transformers` directory, imported as
an lmcore checkpoint once): a rank-8 adapter on every matrix (q, k, v, o, gate, up, down) is
saved as a LoRA checkpoint, then, with one torch thread, each timed as the best of 3:

1. the SHA-256 of the base's model.safetensors (what every load of the adapter checks);
2. `load_checkpoint(base)`;
3. `load_checkpoint(adapter)`: the base loaded, hashed, the adapter put on and merged
   (what a playground worker does for a LoRA version).

    .venv/bin/python bench/lora.py [--work DIR]

Prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def best_of(call, n: int = 3) -> float:
    times = []
    for _ in range(n):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return round(min(times), 3)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "bench-lora")
    args = parser.parse_args()

    import torch

    from lmcore import lora
    from lmcore.adapters import base_reference, weights_digest
    from lmcore.checkpoint import load_checkpoint, save_checkpoint
    from lmcore.config import LoRAConfig
    from lmcore.hf_import import import_hf
    from tests.smollm2 import hf_dir

    torch.set_num_threads(1)
    base, adapter = args.work / "base", args.work / "adapter"
    if not (base / "config.json").is_file():
        shutil.rmtree(base, ignore_errors=True)
        import_hf(hf_dir(), base)
    ck = load_checkpoint(base)
    config = LoRAConfig(r=8)
    lora.add_adapter(ck.model, config)
    shutil.rmtree(adapter, ignore_errors=True)
    save_checkpoint(adapter, ck.model, ck.tokenizer, lora_section=base_reference(config, base))
    params, trainable = lora.param_counts(ck.model)
    print(json.dumps({
        "params": params, "trainable_params": trainable,
        "targets": config.resolved(ck.model_config).targets,
        "base_bytes": (base / "model.safetensors").stat().st_size,
        "adapter_bytes": (adapter / "adapter.safetensors").stat().st_size,
        "digest_s": best_of(lambda: weights_digest(base)),
        "load_base_s": best_of(lambda: load_checkpoint(base)),
        "load_adapter_merged_s": best_of(lambda: load_checkpoint(adapter)),
    }))  # fmt: skip


if __name__ == "__main__":
    main()
