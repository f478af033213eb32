"""`python -m lmcore evaluate` (lmcore/commands/evaluate.py): one JSON object on stdout, for
task files, a cloze task and bits per byte together; errors as one line."""

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "lmcore", "evaluate", *args, "--device", "cpu"],
                          cwd=ROOT, capture_output=True, text=True, timeout=300)  # fmt: skip


def test_it_prints_each_task_with_metrics_and_standard_errors(
    gen_checkpoint, corpus_file, tmp_path
):
    (tmp_path / "mc.yaml").write_text(
        'task: mc\noutput_type: multiple_choice\ndoc_to_text: "{{q}}"\n'
        'doc_to_choice: "{{c}}"\ndoc_to_target: g\n', encoding="utf-8")  # fmt: skip
    items = [{"q": "the cat", "c": ["ate", "more"], "g": 0}] * 3
    (tmp_path / "mc.jsonl").write_text("".join(json.dumps(i) + "\n" for i in items), "utf-8")
    done = run("--checkpoint", str(gen_checkpoint), "--task-file", str(tmp_path / "mc.yaml"),
               "--cloze-corpus", str(corpus_file), "--cloze-items", "20",
               "--bpb-corpus", str(corpus_file), "--samples")  # fmt: skip
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    tasks = {t["task"]: t for t in out["tasks"]}
    assert set(tasks) == {"mc", "cloze_corpus", "bpb:corpus.txt"}
    assert tasks["mc"]["n"] == 3 and set(tasks["mc"]["metrics"]["acc"]) == {"value", "stderr"}
    cloze = tasks["cloze_corpus"]  # as many as the short tail holds (~5 passages of ~400 chars)
    assert 4 <= cloze["n"] <= 20 and len(cloze["samples"]) == cloze["n"]
    assert 0 < tasks["bpb:corpus.txt"]["metrics"]["bpb"]["value"] < 20


def test_nothing_to_evaluate_is_one_line_on_stderr(gen_checkpoint):
    done = run("--checkpoint", str(gen_checkpoint))
    assert done.returncode == 1
    assert done.stderr.strip().splitlines() == [
        "error: nothing to evaluate: give --tasks, --task-file, --cloze-corpus or --bpb-corpus"
    ]


def test_val_fraction_is_the_tail_scored(gen_checkpoint, corpus_file):
    """`--val-fraction 0.5` scores the half `train --val-fraction 0.5` held out: the cloze
    items and the bytes of bits per byte come from that tail, not the default tenth."""
    from lmcore.checkpoint import load_checkpoint
    from lmcore.cloze import ClozeConfig, make_items
    from lmcore.documents import bos_id_for
    from lmcore.evaluate import evaluate_tail

    done = run("--checkpoint", str(gen_checkpoint), "--val-fraction", "0.5",
               "--cloze-corpus", str(corpus_file), "--cloze-items", "50",
               "--bpb-corpus", str(corpus_file))  # fmt: skip
    assert done.returncode == 0, done.stderr
    tasks = {t["task"]: t for t in json.loads(done.stdout)["tasks"]}
    ckpt = load_checkpoint(gen_checkpoint, "cpu")
    bos = bos_id_for(ckpt.train_config, ckpt.tokenizer.special_tokens)
    half, tenth = (evaluate_tail(ckpt.model, ckpt.tokenizer, corpus_file, bos_id=bos,
                                 val_fraction=f).bytes for f in (0.5, 0.1))  # fmt: skip
    assert tasks["bpb:corpus.txt"]["metrics"]["bytes"]["value"] == half > 3 * tenth
    items = make_items(corpus_file, ClozeConfig(items=50, val_fraction=0.5))
    assert tasks["cloze_corpus"]["n"] == len(items) > len(make_items(corpus_file, ClozeConfig(50)))


def test_a_bad_val_fraction_is_one_line_on_stderr(gen_checkpoint, corpus_file):
    done = run("--checkpoint", str(gen_checkpoint), "--bpb-corpus", str(corpus_file),
               "--val-fraction", "1")  # fmt: skip
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        "error: python -m lmcore evaluate: argument --val-fraction: 1 is out of range ([0, 1.0))"
    ]
