"""Hugging Face interop benchmark: export and import a 124M-parameter model, and download it
"for transformers" from the running web app, measuring time and peak memory.

Builds a random GPT-2-small-shaped lmcore checkpoint (12 layers, 768 wide, vocabulary 50,304
with a synthetic byte-level BPE tokenizer of that size, tied embeddings: 124M parameters,
fp32, 494 MB) and a probe with the same tokenizer but one layer 128 wide (6.6M parameters,
26 MB), so that what differs between the two is the weights alone. Then, each in a
fresh child process, timed and with its peak RSS (ru_maxrss):

1. a bare `import lmcore.hf_export, lmcore.hf_import` (the baseline);
2. `python -m lmcore export --checkpoint BIG --out HF` (lmcore -> transformers);
3. `lmcore.hf_import.import_hf(HF, OUT)` (transformers -> lmcore);
4. `manage.py import_model HF --name big` against a running stack (the launcher, as `make
   run` starts it), which also registers the version;
(each for the probe too), then downloads the probe's and the big model's "Download for
transformers" zips twice each from the stack's daphne process, sampling its VmRSS every
50 ms: flat in model size means the big model's figures equal the probe's.

    .venv/bin/python bench/hf_interop.py

Prints one JSON object; progress goes to stderr.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.upload import Client, log, sample_rss, status_kb, web_pid  # noqa: E402
from tests.stack import Stack  # noqa: E402

MEASURE = """
import resource, subprocess, sys, time
t = time.perf_counter()
done = subprocess.run(sys.argv[1:], capture_output=True, text=True)
if done.returncode:
    sys.exit(done.stderr[-2000:])
seconds = time.perf_counter() - t
print(seconds, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
"""


def measured(*command: str, env: dict | None = None) -> dict:
    """Seconds and peak RSS (MB) of one child process running `command`."""
    done = subprocess.run([sys.executable, "-c", MEASURE, *command], cwd=REPO, env=env,
                          capture_output=True, text=True)  # fmt: skip
    if done.returncode:
        raise RuntimeError(f"{' '.join(command)} failed: {done.stderr}")
    seconds, kb = done.stdout.split()
    return {"seconds": round(float(seconds), 2), "peak_rss_mb": round(int(kb) / 1024, 1)}


BUILD = """
import sys, json, torch
from pathlib import Path
from tokenizers import Tokenizer as HF, models, decoders
from lmcore.checkpoint import save_checkpoint
from lmcore.model import GPT, GPTConfig
from lmcore.tokenizer import SPECIAL_TOKENS, Tokenizer, byte_to_char, hf_template

def synthetic_tokenizer(vocab_size):
    chars = [byte_to_char()[b] for b in range(256)]
    vocab = {c: i for i, c in enumerate(chars)}
    merges = []
    for a, b in ((a, b) for a in chars for b in chars):  # every byte pair, in order
        if len(vocab) == vocab_size - len(SPECIAL_TOKENS):
            break
        vocab[a + b] = len(vocab)
        merges.append([a, b])
    spec = json.loads(hf_template().to_str())
    spec["model"].update(vocab=vocab, merges=merges)
    hf = HF.from_str(json.dumps(spec))
    hf.add_special_tokens(SPECIAL_TOKENS)
    return Tokenizer.from_str(hf.to_str())

out = Path(sys.argv[1])
tok = synthetic_tokenizer(50304)
for name, layers, width in (("probe", 1, 128), ("big", 12, 768)):
    cfg = GPTConfig(vocab_size=tok.vocab_size, context=1024, n_layer=layers,
                    n_head=width // 64, d_model=width)
    torch.manual_seed(0)
    model = GPT(cfg)
    save_checkpoint(out / name, model, tok)
    print(name, model.num_params(), file=sys.stderr)
"""


def download(client: Client, path: str) -> tuple[int, float]:
    request = urllib.request.Request(
        client.base + path, headers={"Cookie": f"sessionid={client.cookie('sessionid')}"}
    )
    began, size = time.perf_counter(), 0
    with urllib.request.urlopen(request, timeout=600) as response:
        while block := response.read(1 << 20):
            size += len(block)
    return size, time.perf_counter() - began


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="bench-hf-") as tmp:
        root = Path(tmp)
        log("building the random 124M and probe checkpoints…")
        subprocess.run([sys.executable, "-c", BUILD, str(root)], cwd=REPO, check=True)
        big = root / "big"
        results: dict = {"weights_mb": round((big / "model.safetensors").stat().st_size / 1e6, 1)}
        log("measuring export and import…")
        results["baseline"] = {
            "imports": measured(sys.executable, "-c", "import lmcore.hf_export, lmcore.hf_import"),
            "cli": measured(sys.executable, "-m", "lmcore", "--help"),  # imports torch
        }  # fmt: skip
        for name in ("probe", "big"):
            results[f"export_{name}"] = measured(
                sys.executable, "-m", "lmcore", "export", "--checkpoint", str(root / name),
                "--out", str(root / f"{name}-hf"),
            )  # fmt: skip
            results[f"import_{name}"] = measured(
                sys.executable, "-c", "import sys; from lmcore.hf_import import import_hf; "
                "import_hf(sys.argv[1], sys.argv[2])", str(root / f"{name}-hf"),
                str(root / f"{name}-back"),
            )  # fmt: skip
        stack = Stack(root / "var")
        try:
            log("starting the stack…")
            stack.start()
            env = {k: v for k, v in os.environ.items() if k not in {"REDIS_URL", "DATABASE_URL"}}
            env.update(
                BOTTEGA_VAR_DIR=str(stack.var_dir),  # and the secret the launcher made there
                SECRET_KEY=(stack.var_dir / "secret_key").read_text().strip(),
            )
            manage = (sys.executable, "manage.py", "import_model")
            for name in ("probe", "big"):
                results[f"import_model_{name}"] = measured(
                    *manage, str(root / f"{name}-hf"), "--name", name, env=env
                )
            pid = web_pid(stack.mark)
            client = Client(stack.url)
            client.sign_in()
            results["web_rss_idle_mb"] = round(status_kb(pid, "VmRSS") / 1024, 1)
            for name, pk in (("probe", 1), ("probe", 1), ("big", 2), ("big", 2)):
                log(f"downloading {name} for transformers…")
                peak, stop = [0], threading.Event()
                sampler = threading.Thread(target=sample_rss, args=(pid, stop, peak))
                sampler.start()
                size, seconds = download(client, f"/models/{pk}/download-hf")
                stop.set()
                sampler.join()
                results.setdefault(f"download_{name}", []).append({
                    "zip_mb": round(size / 1e6, 1), "seconds": round(seconds, 2),
                    "web_rss_max_sampled_mb": round(peak[0] / 1024, 1),
                    "web_rss_after_mb": round(status_kb(pid, "VmRSS") / 1024, 1),
                })  # fmt: skip
        finally:
            if stack.process is not None:
                stack.ctrl_c()
            stack.kill_leftovers()
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
