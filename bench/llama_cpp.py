"""Does llama.cpp run Bottega's GGUF export, and greedily say what Bottega says?

Not a test: `llama-cpp-python` builds llama.cpp from source (about an hour on a busy 2-core
machine), so it lives in a virtual environment of its own, never the project's:

    python3 -m venv /tmp/llamacpp-venv
    CMAKE_BUILD_PARALLEL_LEVEL=1 /tmp/llamacpp-venv/bin/pip install llama-cpp-python==0.3.36
    .venv/bin/python bench/llama_cpp.py --llama-python /tmp/llamacpp-venv/bin/python

It imports the real SmolLM2-135M-Instruct Q4_1 GGUF (tests/smollm2.py) into Bottega,
exports that version as GGUF (F16 and Q8_0, lmcore/gguf_export.py), and imports each export
back, so that Bottega computes with exactly the weights llama.cpp reads (the original file
too, as a control). Then, for three chat
prompts (SmolLM2's template, rendered by `transformers`) and one plain prompt, it compares
Bottega's greedy tokens with llama.cpp's (temperature 0, in a child process of the other
venv, one thread), their logits after each prompt, and llama.cpp's tokenizer with Bottega's
on mixed text. Prints JSON.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

NEW_TOKENS = 32
QUESTIONS = ["What is the capital of France?", "How many legs does a spider have?",
             "What is the chemical symbol for gold?"]  # fmt: skip
TEXTS = ["Hello, World! It's 2024: 3.14159 and 42.", "  spaces\ttabs\nnaïve città 日本語 😀",
         "don't we'll THEY'RE — x² ٣٤"]  # fmt: skip

LLAMA = """
import json, sys
from llama_cpp import Llama
job = json.load(sys.stdin)
llm = Llama(job["model"], n_ctx=512, n_threads=1, logits_all=True, verbose=False)
out = {"greedy": [], "logits": [], "tokens": [llm.tokenize(t.encode(), add_bos=False,
                                                           special=False) for t in job["texts"]]}
for ids in job["prompts"]:
    llm.reset()
    llm.eval(ids)
    out["logits"].append([float(x) for x in llm.scores[len(ids) - 1]])
    llm.reset()
    got = []
    for token in llm.generate(ids, temp=0.0, top_k=1, top_p=1.0, min_p=0.0, repeat_penalty=1.0):
        got.append(int(token))
        if len(got) == job["n"]:
            break
    out["greedy"].append(got)
print(json.dumps(out))
"""


def prompts() -> list[list[int]]:
    import transformers

    from tests.smollm2 import gguf_path

    path = gguf_path()
    tokenizer = transformers.AutoTokenizer.from_pretrained(path.parent, gguf_file=path.name)
    chats = [tokenizer.apply_chat_template([{"role": "user", "content": q}],
                                           add_generation_prompt=True, return_dict=False)
             for q in QUESTIONS]  # fmt: skip
    return [*chats, tokenizer.encode("The capital of France is", add_special_tokens=False)]


def bottega(checkpoint: Path, ids: list[list[int]]) -> tuple[list[list[int]], list[Any]]:
    """Greedy tokens after each prompt, and the logits at its last position."""
    import torch

    from lmcore.checkpoint import load_checkpoint

    torch.set_num_threads(1)
    model = load_checkpoint(checkpoint).model
    greedy = [model.generate(torch.tensor([p]), NEW_TOKENS, temperature=0)[0, len(p) :].tolist()
              for p in ids]  # fmt: skip
    with torch.no_grad():
        return greedy, [model(torch.tensor([p]))[0][0, -1] for p in ids]


def _logit_figures(ours: list[Any], theirs: list[list[float]]) -> dict[str, list[float]]:
    """At each prompt's last position: the largest |difference| of llama.cpp's logits from
    Bottega's, and Bottega's margin between its first and second choice."""
    import torch

    diff = [(o - torch.tensor(t)).abs().max().item() for o, t in zip(ours, theirs, strict=True)]
    margin = [(lambda v: (v[0] - v[1]).item())(o.topk(2).values) for o in ours]
    return {"max_logit_difference": [round(d, 4) for d in diff],
            "bottega_top2_margin": [round(m, 4) for m in margin]}  # fmt: skip


def first_difference(a: list[int], b: list[int]) -> int | None:
    return next((i for i, (x, y) in enumerate(zip(a, b, strict=False)) if x != y), None)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--llama-python", required=True, help="python of the llama-cpp venv")
    args = parser.parse_args()
    from lmcore.checkpoint import load_checkpoint
    from lmcore.gguf_export import export_gguf
    from lmcore.gguf_import import import_gguf
    from tests.smollm2 import gguf_path

    ids, report = prompts(), {}
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        import_gguf(gguf_path(), root / "smol")
        tokenizer = load_checkpoint(root / "smol").tokenizer
        files = {"Q4_1 (the original file, a control)": (gguf_path(), root / "smol")}
        for kind in ("F16", "Q8_0"):
            export_gguf(root / "smol", root / f"smol.{kind}.gguf", kind)
            import_gguf(root / f"smol.{kind}.gguf", root / f"back-{kind}")
            files[f"{kind} (our export)"] = (root / f"smol.{kind}.gguf", root / f"back-{kind}")
        for kind, (path, checkpoint) in files.items():
            ours, logits = bottega(checkpoint, ids)
            job = {"model": str(path), "prompts": ids, "n": NEW_TOKENS,
                   "texts": TEXTS}  # fmt: skip
            done = subprocess.run([args.llama_python, "-c", LLAMA], input=json.dumps(job),
                                  capture_output=True, text=True, timeout=1800)  # fmt: skip
            if done.returncode:
                sys.exit(f"llama.cpp failed on {kind}: {done.stderr[-3000:]}")
            theirs = json.loads(done.stdout)
            report[kind] = {
                "greedy_equal": [a == b for a, b in zip(ours, theirs["greedy"], strict=True)],
                "first_difference": [first_difference(a, b)
                                     for a, b in zip(ours, theirs["greedy"], strict=True)],
                "bottega": [tokenizer.decode(t) for t in ours],
                "llama_cpp": [tokenizer.decode(t) for t in theirs["greedy"]],
                "tokenizer_equal": [tokenizer.encode(t) == got
                                    for t, got in zip(TEXTS, theirs["tokens"], strict=True)],
                **_logit_figures(logits, theirs["logits"]),
            }  # fmt: skip
            print(kind, json.dumps(report[kind]), file=sys.stderr)
    print(json.dumps(report, ensure_ascii=False, indent=1))


if __name__ == "__main__":
    main()
