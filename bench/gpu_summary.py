"""The headline figures of a bench/gpu.sh run, as one JSON object (its summary.json).

    printf 'smoke 0 61\\ntrain 0 190\\n...' | python3 bench/gpu_summary.py OUT_DIR

Reads "STEP EXIT_CODE SECONDS" lines on stdin and OUT_DIR/STEP.json (the step's stdout: one
JSON object, or JSON lines of which the last is the most complete, as bench/train.py writes).
A step that wrote nothing readable gets "figures": null; its log is OUT_DIR/steps.log.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path


def last_json(path: Path) -> dict | None:
    """The whole file as JSON, else its last line that parses; None when nothing does."""
    try:
        text = path.read_text()
    except OSError:
        return None
    try:
        return json.loads(text)
    except ValueError:
        pass
    for line in reversed(text.splitlines()):
        try:
            return json.loads(line)
        except ValueError:
            continue
    return None


def figures(step: str, report: dict) -> dict:
    if step == "smoke":
        checks = report.get("checks", {})
        return {"pass": report.get("pass"), "failed": [n for n, c in checks.items()
                                                       if not c.get("pass")]}  # fmt: skip
    if step == "train":
        keys = ("preset", "best_val_bpb", "target_step", "target_train_seconds",
                "target_wall_seconds", "tokens_per_s", "mfu", "peak_memory_gib")  # fmt: skip
        return {"device": report.get("device"),
                "results": [{k: r[k] for k in keys if k in r} for r in report.get("results", [])]}  # fmt: skip
    if step == "generate":
        kv = report.get("kv_vs_naive", {})
        return {"speedup": kv.get("speedup"), "same_tokens": kv.get("same_tokens"),
                "kv_decode_tokens_per_s": kv.get("kv_decode_tokens_per_s"),
                "naive_tokens_per_s": kv.get("naive_tokens_per_s"),
                "batched_tokens_per_s": {r["streams"]: r["tokens_per_s"]
                                         for r in report.get("batched", [])}}  # fmt: skip
    if step == "batching":
        return {n: {"new_tokens_per_s": row["new"]["tokens_per_s"],
                    "old_tokens_per_s": row["old"]["tokens_per_s"], "speedup": row["speedup"],
                    "new_ttft_ms_p99": row["new"]["ttft_ms_p99"], "same_tokens": row["same_tokens"]}
                for n, row in report.get("levels", {}).items()}  # fmt: skip
    return {}


def main() -> int:
    out = Path(sys.argv[1])
    summary = {}
    for line in filter(str.strip, sys.stdin.read().splitlines()):
        step, code, seconds = line.split()
        report = last_json(out / f"{step}.json")
        try:
            found = figures(step, report) if report is not None else None
        except (KeyError, TypeError, AttributeError) as exc:
            found = {"unreadable": f"{type(exc).__name__}: {exc}"}
        summary[step] = {"exit": int(code), "timed_out": int(code) in (124, 137),
                         "seconds": int(seconds), "figures": found}  # fmt: skip
    print(json.dumps(summary, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
