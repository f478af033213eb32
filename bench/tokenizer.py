"""Tokenizer benchmark: our training pipeline vs a bare `tokenizers` call, encode throughput,
and bytes per token at several vocabulary sizes (on the big file: at --train-vocab only,
over the --encode-mb head sample that encode throughput is measured on).
Prints one JSON object; progress lines go to stderr.

    .venv/bin/python bench/tokenizer.py [--big-mb 100] [--repeats 2] [--train-vocab 16384]
                                        [--encode-mb 25] [--bpt-vocabs 1024 4096 16384]

Corpora: ../shared/data/*.txt, plus a `--big-mb` file made by repeating them with variation
(lines shuffled per copy, a few words mutated) so its vocabulary keeps growing like real text.
Training runs each happen in a fresh subprocess, so peak RSS (VmHWM) is per run; ours and
bare alternate and the best of `--repeats` is kept, which damps noise on a shared machine.
Ours holds each file's validation tail out (lmcore/preparation.py, as every tokenizer is
made); the bare call reads a copy of the same training part, so both learn from the same bytes.
The target (docs/benchmarks.md, "Targets") is ours/bare <= 1.10 for training time.
"""

from __future__ import annotations

import argparse
import json
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
# ../shared/data beside the checkout (a git worktree under /work/wt: two levels up).
DATA = next((p / "shared" / "data" for p in REPO.parents if (p / "shared" / "data").is_dir()),
            REPO.parent / "shared" / "data")  # fmt: skip
sys.path.insert(0, str(REPO))


def proc_status_mb(field: str) -> float:
    """VmRSS (now) or VmHWM (peak) of this process in MB.

    Not ru_maxrss: Linux carries the parent's peak over fork + exec, so a child started from
    a big benchmark process would report the parent's size.
    """
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no {field} in /proc/self/status")


def worker(kind: str, path: Path, vocab: int, save: Path) -> dict:
    """Train once (in this fresh process) and report time and memory."""
    from tokenizers import pre_tokenizers, trainers

    from lmcore.preparation import train_held_out_tokenizer
    from lmcore.tokenizer import SPECIAL_TOKENS, TokenizerConfig, hf_template

    base = proc_status_mb("VmRSS")
    started = time.perf_counter()
    if kind == "ours":
        train_held_out_tokenizer([path], TokenizerConfig(vocab_size=vocab)).save(save)
    else:  # the bare call: same pre-tokenizer and trainer settings, HF reads the file itself
        hf = hf_template()
        trainer = trainers.BpeTrainer(
            vocab_size=vocab, min_frequency=2, special_tokens=SPECIAL_TOKENS,
            initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False,
        )  # fmt: skip
        hf.train([str(path)], trainer)
        hf.save(str(save / "tokenizer.json"))
    seconds = time.perf_counter() - started
    peak = proc_status_mb("VmHWM")
    return {"seconds": seconds, "peak_rss_mb": peak, "base_rss_mb": base}


def run_worker(kind: str, path: Path, vocab: int, save: Path) -> dict:
    save.mkdir(parents=True, exist_ok=True)
    argv = [sys.executable, __file__, "--worker", kind, "--input", str(path),
            "--train-vocab", str(vocab), "--save", str(save)]  # fmt: skip
    out = subprocess.run(argv, check=True, capture_output=True, text=True).stdout
    return json.loads(out)


def training_part(path: Path, work: Path) -> Path:
    """The text ours learns from (the file less its validation tail), as a file for the bare
    call: both train on the same bytes."""
    from lmcore.documents import VAL_FRACTION, split_file

    part, _ = split_file(path, VAL_FRACTION)
    out = work / f"{path.stem}-train.txt"
    with path.open("rb") as src, out.open("wb") as dst:
        left = part.hi - part.lo
        src.seek(part.lo)
        while left > 0:
            chunk = src.read(min(left, 1 << 24))
            dst.write(chunk)
            left -= len(chunk)
    return out


def compare_training(path: Path, vocab: int, repeats: int, work: Path) -> dict:
    runs: dict[str, list[dict]] = {"ours": [], "bare": []}
    work.mkdir(parents=True, exist_ok=True)
    inputs = {"ours": path, "bare": training_part(path, work)}
    for i in range(repeats):
        for kind in ("ours", "bare") if i % 2 == 0 else ("bare", "ours"):
            runs[kind].append(run_worker(kind, inputs[kind], vocab, work / kind))
    best = {k: min(v, key=lambda r: r["seconds"]) for k, v in runs.items()}
    peak = {k: max(r["peak_rss_mb"] for r in v) for k, v in runs.items()}
    grew = {k: max(r["peak_rss_mb"] - r["base_rss_mb"] for r in v) for k, v in runs.items()}
    return {
        "vocab": vocab,
        "ours_s": round(best["ours"]["seconds"], 2),
        "bare_s": round(best["bare"]["seconds"], 2),
        "time_ratio": round(best["ours"]["seconds"] / best["bare"]["seconds"], 3),
        "ours_peak_rss_mb": round(peak["ours"]),
        "bare_peak_rss_mb": round(peak["bare"]),
        "rss_ratio": round(peak["ours"] / peak["bare"], 3),
        "ours_rss_growth_mb": round(grew["ours"]),
        "bare_rss_growth_mb": round(grew["bare"]),
        "all_seconds": {k: [round(r["seconds"], 2) for r in v] for k, v in runs.items()},
    }


def encode_throughput(tok_dir: Path, path: Path, repeats: int, work: Path) -> dict:
    """encode_corpus end to end (read, chunk, encode, write) vs bare encode_batch_fast in RAM.

    The two alternate and the best of `repeats` is kept, as for training.
    """
    from tokenizers import Tokenizer as HFTokenizer

    from lmcore.data import encode_corpus
    from lmcore.tokenizer import Tokenizer

    tokenizer = Tokenizer.load(tok_dir)
    hf = HFTokenizer.from_file(str(tok_dir / "tokenizer.json"))
    text = path.read_text(encoding="utf-8")
    pieces = [text[i : i + (1 << 16)] for i in range(0, len(text), 1 << 16)]
    best = {"ours": float("inf"), "bare": float("inf")}
    for _ in range(repeats):
        started = time.perf_counter()
        corpus = encode_corpus(tokenizer, [path], work / "encoded")
        best["ours"] = min(best["ours"], time.perf_counter() - started)
        started = time.perf_counter()
        n_bare = sum(len(e.ids) for e in hf.encode_batch_fast(pieces))
        best["bare"] = min(best["bare"], time.perf_counter() - started)
    mb, tokens = path.stat().st_size / 1e6, corpus.train_tokens + corpus.val_tokens
    return {
        "ours_mb_s": round(mb / best["ours"], 2),
        "bare_mb_s": round(mb / best["bare"], 2),
        "throughput_ratio": round(best["bare"] / best["ours"], 3),
        "tokens": tokens,
        "bare_tokens": n_bare,
        "bytes_per_token": round((corpus.train_bytes + corpus.val_bytes) / tokens, 4),
    }


def head_sample(path: Path, mb: float, work: Path) -> Path:
    """The file itself if small, else its first `mb` MB cut after a newline (for encoding)."""
    if path.stat().st_size <= mb * 1e6:
        return path
    with path.open("rb") as f:
        head = f.read(int(mb * 1e6))
    out = work / f"{path.stem}-head.txt"
    out.write_bytes(head[: head.rfind(b"\n") + 1])
    return out


def bytes_per_token(path: Path, vocabs: list[int]) -> dict:
    from lmcore.inspect_tokens import file_stats
    from lmcore.preparation import train_held_out_tokenizer
    from lmcore.tokenizer import TokenizerConfig

    rows = {}
    for vocab in vocabs:
        tokenizer = train_held_out_tokenizer([path], TokenizerConfig(vocab_size=vocab))
        rows[str(vocab)] = {  # on the whole file: the held-out tail is its last tenth
            "bytes_per_token": file_stats(tokenizer, [path])["bytes_per_token"],
            "vocab_reached": tokenizer.vocab_size,
        }
    return rows


def make_big(sources: list[Path], mb: int, out: Path, seed: int = 0) -> Path:
    """Repeat the sources until `mb` MB, each copy with shuffled lines and mutated words."""
    rng = random.Random(seed)
    lines = [ln for p in sources for ln in p.read_text(encoding="utf-8").splitlines(True)]
    target, written = mb * 1_000_000, 0
    with out.open("w", encoding="utf-8") as f:
        while written < target:
            rng.shuffle(lines)
            copy = [_mutate(ln, rng) if rng.random() < 0.05 else ln for ln in lines]
            chunk = "".join(copy)[: target - written]
            f.write(chunk)
            written += len(chunk.encode("utf-8"))
    return out


def _mutate(line: str, rng: random.Random) -> str:
    words = line.split(" ")
    i = rng.randrange(len(words))
    word = words[i]
    choice = rng.random()
    if choice < 0.4 and len(word) > 3:  # swap two letters inside the word
        j = rng.randrange(1, len(word) - 2)
        word = word[:j] + word[j + 1] + word[j] + word[j + 2 :]
    elif choice < 0.7:
        word = word + str(rng.randrange(1000))
    else:
        word = word.upper()
    words[i] = word
    return " ".join(words)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--big-mb", type=int, default=100, help="size of the big file; 0: none")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--train-vocab", type=int, default=16384)
    parser.add_argument("--encode-mb", type=float, default=25, help="encode at most this much")
    parser.add_argument("--bpt-vocabs", type=int, nargs="+", default=[1024, 4096, 16384])
    parser.add_argument("--worker", choices=["ours", "bare"], help=argparse.SUPPRESS)
    parser.add_argument("--input", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--save", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(worker(args.worker, args.input, args.train_vocab, args.save)))
        return 0
    sources = sorted(DATA.glob("*.txt"))
    if not sources:
        print(json.dumps({"skipped": f"no corpora in {DATA}"}))
        return 0
    with tempfile.TemporaryDirectory(prefix="bench-tok-") as tmp:
        work = Path(tmp)
        corpora = {p.stem: p for p in sources}
        if args.big_mb > 0:
            corpora[f"big{args.big_mb}mb"] = make_big(sources, args.big_mb, work / "big.txt")
        result = {"cpus": len(__import__("os").sched_getaffinity(0)), "corpora": {}}
        for name, path in corpora.items():
            print(f"# {name}", file=sys.stderr, flush=True)
            row = {"mb": round(path.stat().st_size / 1e6, 2)}
            row["train"] = compare_training(path, args.train_vocab, args.repeats, work / name)
            tok_dir, sample = work / name / "ours", head_sample(path, args.encode_mb, work)
            row["encode"] = encode_throughput(tok_dir, sample, args.repeats, work / name)
            row["encode"]["mb"] = round(sample.stat().st_size / 1e6, 2)
            if path in sources:  # the big file: bytes/token at --train-vocab is in "encode"
                row["bytes_per_token"] = bytes_per_token(path, args.bpt_vocabs)
            result["corpora"][name] = row
            print(json.dumps({name: row}), file=sys.stderr, flush=True)
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
