"""Chat fine-tuning benchmark: a synthetic conversation task whose answers are checked exactly.

The tasks: the user names three words drawn from 40 Shakespearean words and asks for them
back ("copy", the default) or in reverse order ("reverse"); the exact answer is those words,
e.g.

    user: "Repeat: crown night sword"   assistant: "crown night sword"

so it cannot be memorised (64,000 triples; held-out conversations use triples never seen in
training): the model must learn to copy from its prompt. A quarter of the conversations
start with a system message ("Answer briefly.").

Steps, all on the CPU: train a byte-level BPE tokenizer (2,048, the `tiny` preset's size) on
the training 90% of tinyshakespeare; train the `tiny` base model on it for `--base-seconds`
(or reuse `--base RUN`); write `--train` conversations and `--held-out` ones; fine-tune the
base with `python -m lmcore train --init-from BASE --chat-data F` (a real child process, one
intra-op thread) for `--ft-seconds`; then answer every held-out conversation greedily through
the chat template (`lmcore chat`'s `reply`) with the base model and with the fine-tuned one,
and count exact answers. Prints one JSON object; progress goes to stderr. The load average
is recorded: the development machine's 2 cores are shared, so the minutes are an upper bound.

    .venv/bin/python bench/chat.py                   # ~3 min base + ~10 min fine-tune
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / "shared" / "data" / "tinyshakespeare.txt"
sys.path.insert(0, str(REPO))

import torch  # noqa: E402

from lmcore.checkpoint import load_checkpoint  # noqa: E402
from lmcore.commands.chat import reply  # noqa: E402
from lmcore.preparation import train_held_out_tokenizer  # noqa: E402
from lmcore.sampling import SamplingParams  # noqa: E402
from lmcore.tokenizer import TokenizerConfig  # noqa: E402

WORDS = ["king", "queen", "lord", "love", "night", "day", "sword", "heart", "blood", "death", "crown", "honour", "father", "mother", "son", "daughter", "friend", "enemy", "fool", "ghost", "grave", "heaven", "hell", "horse", "house", "land", "life", "light", "man", "world", "eye", "hand", "head", "tongue", "word", "time", "war", "peace", "gold", "fire"]  # fmt: skip
SYSTEM = "Answer briefly."


def log(*parts: object) -> None:
    print(*parts, file=sys.stderr, flush=True)


TASKS = {  # name -> (the user's word, the answer from the words)
    "reverse": ("Reverse:", lambda words: " ".join(reversed(words))),
    "copy": ("Repeat:", lambda words: " ".join(words)),
}


def conversation(triple: tuple[str, str, str], rng: random.Random, task: str) -> dict:
    verb, answer = TASKS[task]
    messages = [{"role": "system", "content": SYSTEM}] if rng.random() < 0.25 else []
    messages += [{"role": "user", "content": f"{verb} " + " ".join(triple)},
                 {"role": "assistant", "content": answer(triple)}]  # fmt: skip
    return {"messages": messages}


def make_task(n_train: int, n_held: int, seed: int, task: str) -> tuple[list[dict], list[dict]]:
    """Train and held-out conversations over disjoint word triples."""
    rng = random.Random(seed)
    triples: set[tuple[str, str, str]] = set()
    while len(triples) < n_train + n_held:
        triples.add(tuple(rng.sample(WORDS, 3)))
    ordered = sorted(triples)
    rng.shuffle(ordered)
    return ([conversation(t, rng, task) for t in ordered[:n_train]],
            [conversation(t, rng, task) for t in ordered[n_train:]])  # fmt: skip


def write_jsonl(path: Path, conversations: list[dict]) -> Path:
    path.write_text("".join(json.dumps(c) + "\n" for c in conversations), encoding="utf-8")
    return path


def lmcore(*args: str) -> list[dict]:
    """Run `python -m lmcore ...` as a child process; its JSON lines."""
    started = time.perf_counter()
    # One intra-op thread: on a shared 2-core machine two OpenMP threads spin-waiting for each
    # other made tiny-model steps many times slower (tests/lmcore/conftest.py says the same).
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    proc = subprocess.run([sys.executable, "-m", "lmcore", *args], cwd=REPO, text=True,
                          capture_output=True, env=env)  # fmt: skip
    if proc.returncode != 0:
        raise SystemExit(f"lmcore {args[0]} failed: {proc.stderr.strip()}")
    events = [json.loads(line) for line in proc.stdout.splitlines()]
    log(f"lmcore {args[0]}: {time.perf_counter() - started:.0f} s, last: {events[-1]}")
    return events


def accuracy(run: Path, held_out: list[dict], max_new_tokens: int) -> tuple[float, list]:
    checkpoint = load_checkpoint(run, "cpu")
    params = SamplingParams(max_new_tokens=max_new_tokens, temperature=0.0)
    right, examples = 0, []
    for conv in held_out:
        prompt, answer = conv["messages"][:-1], conv["messages"][-1]["content"]
        got = reply(checkpoint, prompt, params)["reply"]
        right += got == answer
        if len(examples) < 3:
            examples.append({"question": prompt[-1]["content"], "expected": answer, "got": got})
    return right / len(held_out), examples


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--task", choices=sorted(TASKS), default="copy")
    parser.add_argument("--base", type=Path, help="reuse this base run instead of training one")
    parser.add_argument("--base-seconds", type=float, default=180.0)
    parser.add_argument("--ft-seconds", type=float, default=600.0)
    parser.add_argument("--ft-steps", type=int, help="a step limit instead of --ft-seconds")
    parser.add_argument("--ft-lr", type=float, default=1e-2)
    parser.add_argument("--ft-warmup", type=int, default=10, help="warmup steps")
    parser.add_argument(
        "--ft-batch",
        type=int,
        default=16,
        help="conversations per step (a row is one whole conversation)",
    )
    parser.add_argument("--train", type=int, default=4000, help="training conversations")
    parser.add_argument("--held-out", type=int, default=200)
    parser.add_argument("--workdir", type=Path)
    parser.add_argument("--data", type=Path, default=DATA, help="tinyshakespeare.txt")
    args = parser.parse_args()
    torch.set_num_threads(1)
    work = args.workdir or Path(tempfile.mkdtemp(prefix="bench-chat-"))
    load_before = os.getloadavg()
    base = args.base
    timings = {}
    if base is None:
        started = time.perf_counter()
        tokenizer = train_held_out_tokenizer([args.data], TokenizerConfig(vocab_size=2048))
        tokenizer.save(work / "tok")
        lmcore("train", "--tokenizer", str(work / "tok"), "--input", str(args.data), "--out",
               str(work / "base"), "--preset", "tiny", "--max-seconds", str(args.base_seconds),
               "--device", "cpu")  # fmt: skip
        timings["base_minutes"] = round((time.perf_counter() - started) / 60, 2)
        base = work / "base"
    train_set, held_out = make_task(args.train, args.held_out, seed=0, task=args.task)
    data = write_jsonl(work / f"{args.task}.jsonl", train_set)
    shutil.rmtree(work / "chat", ignore_errors=True)
    limit = (["--max-steps", str(args.ft_steps)] if args.ft_steps
             else ["--max-seconds", str(args.ft_seconds)])  # fmt: skip
    started = time.perf_counter()
    events = lmcore("train", "--init-from", str(base), "--chat-data", str(data), "--out",
                    str(work / "chat"), *limit, "--lr",
                    str(args.ft_lr), "--batch-size", str(args.ft_batch), "--warmup-steps", str(args.ft_warmup),
                    "--eval-every", "250",
                    "--device", "cpu")  # fmt: skip
    timings["finetune_minutes"] = round((time.perf_counter() - started) / 60, 2)
    done = events[-1]
    max_new = 16
    before, before_examples = accuracy(base, held_out, max_new)
    after, after_examples = accuracy(work / "chat", held_out, max_new)
    print(json.dumps({
        "task": f"{args.task} three words", "train_conversations": args.train,
        "held_out_conversations": args.held_out, "accuracy_before": before,
        "accuracy_after": after, "finetune_steps": done["step"],
        "finetune_val_loss": round(done["val_loss"], 4), "finetune_batch": args.ft_batch,
        "finetune_lr": args.ft_lr, "finetune_seconds": done["seconds"], "finetune_tokens_per_s": done["tokens_per_s"], **timings,
        "examples_before": before_examples, "examples_after": after_examples,
        "load_avg_before": [round(x, 2) for x in load_before],
        "load_avg_after": [round(x, 2) for x in os.getloadavg()], "workdir": str(work),
    }, indent=2))  # fmt: skip


if __name__ == "__main__":
    main()
