"""What a test that waited in vain reports, so that a hang says where it is: every thread of
the test process, every process below it (state, the kernel function it waits in, its command
line) with each Python process's own threads (`py-spy dump`, a development dependency), and
the training runs' rows."""

from __future__ import annotations

import faulthandler
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path


def report() -> str:
    return "\n".join([_runs(), _processes(), "threads of the test process:", _own_threads()])


def _own_threads() -> str:
    with tempfile.TemporaryFile("w+") as out:
        faulthandler.dump_traceback(out, all_threads=True)
        out.seek(0)
        return out.read()


def _processes() -> str:
    """The tree below this process, depth first, with each Python process's stacks."""
    import os

    children: dict[int, list[int]] = {}
    described: dict[int, str] = {}
    python: set[int] = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()  # state, ppid, ...
            wchan = (stat.parent / "wchan").read_text()
            cmd = (stat.parent / "cmdline").read_bytes().replace(b"\0", b" ").decode()[:300]
        except (OSError, IndexError):
            continue
        pid = int(stat.parent.name)
        children.setdefault(int(fields[1]), []).append(pid)
        described[pid] = f"{pid} {fields[0]} {wchan}: {cmd}"
        if "python" in Path(cmd.split(" ", 1)[0]).name:
            python.add(pid)
    lines: list[str] = [f"processes below {os.getpid()}:"]

    def walk(pid: int, depth: int) -> None:
        for child in sorted(children.get(pid, [])):
            lines.append("  " * depth + described[child])
            if child in python:
                lines.extend("  " * (depth + 1) + line for line in _py_spy(child).splitlines())
            walk(child, depth + 1)

    walk(os.getpid(), 1)
    return "\n".join(lines)


def _py_spy(pid: int) -> str:
    tool = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    try:
        done = subprocess.run([tool, "dump", "--pid", str(pid)], capture_output=True,
                              text=True, timeout=30)  # fmt: skip
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"(py-spy: {exc})"
    return done.stdout or done.stderr


def _runs() -> str:
    """The training runs' rows, when the test has a database."""
    try:
        from webapp.training.models import TrainingRun

        rows = TrainingRun.objects.values_list("pk", "status", "heartbeat_at", "queued_at")
        return "training runs: " + "; ".join(f"{pk} {status} beat {beat} queued {queued}"
                                              for pk, status, beat, queued in rows)  # fmt: skip
    except Exception as exc:  # no database in this test, or it is the thing that hangs
        return f"training runs: ({type(exc).__name__}: {exc})"
