"""Does streaming "Download for transformers" leak? One process streams the same export zip
(lmcore.hf_export.iter_zip through the view's async iterator, webapp/registry/views.py)
`--times` times and prints its VmRSS after each: flat means nothing accumulates per download.

    .venv/bin/python bench/hf_stream_repeat.py [--times 12]

The model is random (12 layers, 512 wide: 151 MB zip); no server is involved, so this
isolates the app's part from daphne's (bench/hf_interop.py measures the server).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "webapp.settings")
os.environ.setdefault("SECRET_KEY", "bench-only-secret")
os.environ.setdefault("DEBUG", "true")


def rss_mb() -> int:
    status = Path("/proc/self/status").read_text().splitlines()
    line = next(x for x in status if x.startswith("VmRSS"))
    return int(line.split()[1]) // 1024


async def stream(checkpoint: Path, times: int) -> None:
    from lmcore.hf_export import iter_zip
    from webapp.registry.views import _in_thread

    for i in range(times):
        size = 0
        async for chunk in _in_thread(iter_zip(checkpoint, "m")):
            size += len(chunk)
        print(f"download {i + 1}: {size / 1e6:.0f} MB zip, VmRSS {rss_mb()} MB", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--times", type=int, default=12)
    args = parser.parse_args()
    import django

    django.setup()
    from lmcore.checkpoint import save_checkpoint
    from lmcore.model import GPT, GPTConfig
    from lmcore.preparation import train_held_out_tokenizer
    from lmcore.tokenizer import TokenizerConfig

    root = Path(tempfile.mkdtemp(prefix="bench-hf-stream-"))
    (root / "text.txt").write_text("the cat ate the cheese città 日本 🙂\n" * 2000)
    tok = train_held_out_tokenizer([root / "text.txt"], TokenizerConfig(vocab_size=300))
    config = GPTConfig(vocab_size=tok.vocab_size, context=64, n_layer=12, n_head=8, d_model=512)
    save_checkpoint(root / "ck", GPT(config), tok)
    print(f"before: VmRSS {rss_mb()} MB", flush=True)
    asyncio.run(stream(root / "ck", args.times))


if __name__ == "__main__":
    main()
