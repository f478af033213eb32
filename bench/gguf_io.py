"""GGUF benchmark: import time and peak memory of the real SmolLM2-135M-Instruct, as its Q4_1
GGUF and as a `transformers` directory, and of the GGUF exports (F16, Q8_0) of the import.

Each step runs in a fresh child process, timed, with its peak resident memory (`ru_maxrss`
of the child, the kernel's VmHWM): a bare `import lmcore.gguf_import, lmcore.hf_import` (the
baseline), `import_gguf(GGUF)`, `import_hf(DIR)`, `export_gguf(IMPORT, F16)` and
`export_gguf(IMPORT, Q8_0)`. The target: an import peaks under 2x the fp32 weights
(issue 23). The model comes from tests/smollm2.py (fetched once, cached).

    .venv/bin/python bench/gguf_io.py

Prints one JSON object and a markdown table; progress goes to stderr.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.smollm2 import gguf_path, hf_dir  # noqa: E402

STEP = """
import resource, sys, time
t = time.perf_counter()
import lmcore.gguf_import, lmcore.hf_import, lmcore.gguf_export
what, source, out = sys.argv[1:4]
if what == "import_gguf":
    lmcore.gguf_import.import_gguf(source, out)
elif what == "import_hf":
    lmcore.hf_import.import_hf(source, out)
elif what.startswith("export_gguf"):
    lmcore.gguf_export.export_gguf(source, out, what.split(":")[1])
print(time.perf_counter() - t, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
"""


def measured(what: str, source: Path | str = "", out: Path | str = "") -> dict:
    """Seconds and peak RSS (MB) of one child process doing `what`."""
    done = subprocess.run([sys.executable, "-c", STEP, what, str(source), str(out)], cwd=REPO,
                          capture_output=True, text=True)  # fmt: skip
    if done.returncode:
        raise RuntimeError(f"{what} failed: {done.stderr[-2000:]}")
    seconds, kb = done.stdout.split()
    return {"seconds": round(float(seconds), 2), "peak_rss_mb": round(int(kb) / 1024, 1)}


def main() -> None:
    gguf, directory = gguf_path(), hf_dir()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        rows = {"baseline (imports only)": measured("baseline")}
        print("baseline done", file=sys.stderr)
        rows["import_gguf (Q4_1 GGUF, 98 MB)"] = measured("import_gguf", gguf, root / "g")
        rows["import_hf (fp32 directory, 538 MB)"] = measured("import_hf", directory, root / "h")
        print("imports done", file=sys.stderr)
        for kind in ("F16", "Q8_0"):
            rows[f"export_gguf {kind}"] = measured(f"export_gguf:{kind}", root / "g",
                                                   root / f"m.{kind}.gguf")  # fmt: skip
        params = json.loads((root / "g" / "config.json").read_text())["params"]
    fp32_mb = params * 4 / 2**20
    for row in rows.values():
        row["peak_over_fp32_weights"] = round(row["peak_rss_mb"] / fp32_mb, 2)
    print(json.dumps({"params": params, "fp32_weights_mb": round(fp32_mb, 1), "steps": rows}))
    print("| step (child process) | seconds | peak RSS, MB | peak / fp32 weights |")
    print("|---|---:|---:|---:|")
    for name, row in rows.items():
        print(f"| {name} | {row['seconds']} | {row['peak_rss_mb']} | "
              f"{row['peak_over_fp32_weights']} |")  # fmt: skip


if __name__ == "__main__":
    main()
