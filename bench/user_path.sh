#!/usr/bin/env bash
# The tiny preset's figure exactly as a user gets it (issue 24): three CLI commands, nothing else.
#
#   OMP_NUM_THREADS=1 bench/user_path.sh           # 180 s, tinyshakespeare, seed 1
#   MAX_SECONDS=10 bench/user_path.sh              # a smoke run
#   DATA=f.txt VOCAB=4096 SEED=2 PRESET=tiny bench/user_path.sh
#
#   python -m lmcore tokenizer train --input DATA --vocab-size VOCAB --out WORK/tok
#   python -m lmcore train --preset tiny --max-seconds MAX_SECONDS --device cpu --seed SEED \
#       --tokenizer WORK/tok --input DATA --out WORK/run
#   python -m lmcore eval --checkpoint WORK/run --input DATA --val-fraction 0.1
#
# The tokenizer and the run hold the same last 10% of DATA out (lmcore/preparation.py), and
# eval scores that tail. OMP_NUM_THREADS is passed through as set (unset: torch's default).
# Prints each command's last JSON line to stderr and, on stdout, one JSON object: the eval's
# val bpb, the run's own final val bpb, steps, tokens/s, the threads and the load before and
# after. Run it on a quiet machine; the load it prints says whether it was.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-.venv/bin/python}
if [ -z "${DATA:-}" ]; then  # ../shared/data beside the checkout (a worktree: two levels up)
    for d in ../shared ../../shared; do
        [ -f "$d/data/tinyshakespeare.txt" ] && { DATA=$d/data/tinyshakespeare.txt; break; }
    done
fi
VOCAB=${VOCAB:-2048}  # the tiny preset's (lmcore/presets.py)
MAX_SECONDS=${MAX_SECONDS:-180}
SEED=${SEED:-1}
PRESET=${PRESET:-tiny}
[ -f "${DATA:-}" ] || { echo "no tinyshakespeare.txt: set DATA=FILE" >&2; exit 2; }
WORK=$(mktemp -d "${TMPDIR:-/tmp}/user-path-XXXXXX")
trap 'rm -rf "$WORK"' EXIT
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"

load() { cut -d' ' -f1-3 /proc/loadavg; }
LOAD_BEFORE=$(load)
"$PY" -m lmcore tokenizer train --input "$DATA" --vocab-size "$VOCAB" --out "$WORK/tok" \
    > "$WORK/tokenizer.json"
tail -n1 "$WORK/tokenizer.json" >&2
"$PY" -m lmcore train --preset "$PRESET" --max-seconds "$MAX_SECONDS" --device cpu \
    --seed "$SEED" --tokenizer "$WORK/tok" --input "$DATA" --out "$WORK/run" > "$WORK/train.jsonl"
tail -n1 "$WORK/train.jsonl" >&2
"$PY" -m lmcore eval --checkpoint "$WORK/run" --input "$DATA" --val-fraction 0.1 \
    > "$WORK/eval.json"
cat "$WORK/eval.json" >&2
LOAD_AFTER=$(load)

"$PY" - "$WORK" "$LOAD_BEFORE" "$LOAD_AFTER" "$MAX_SECONDS" "$VOCAB" <<'EOF'
import json, os, sys
from pathlib import Path

work, before, after, seconds, vocab = sys.argv[1:]
done = json.loads((Path(work) / "train.jsonl").read_text().splitlines()[-1])
evaluated = json.loads((Path(work) / "eval.json").read_text())
print(json.dumps({
    "val_bpb": evaluated["bpb"], "run_val_bpb": done["val_bpb"], "steps": done["step"],
    "tokens_per_s": done["tokens_per_s"], "seconds": done["seconds"],
    "max_seconds": float(seconds), "vocab": int(vocab),
    "omp_num_threads": os.environ.get("OMP_NUM_THREADS"),
    "load_before": before, "load_after": after,
}))
EOF
