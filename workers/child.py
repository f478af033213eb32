"""A training child process: started in its own process group, read line by line, stopped by
signal. No Django, no Celery: `workers/training.py` supervises it.

The child is `python -m lmcore train --config RUN/run.json` (one process) or
`python -m torch.distributed.run --nproc-per-node N -m lmcore train ...` (N processes; gloo on
CPU, NCCL on GPUs). It prints JSON lines on stdout (lmcore/commands/train.py) and errors on
stderr; we keep the last lines of stderr for the run page.

Why a process group, and why PR_SET_PDEATHSIG:
- `stop()` sends SIGTERM to the whole group: torchrun and every rank get it, each rank
  checkpoints (rank 0 writes) and exits; SIGTERM to torchrun alone would reach the ranks
  only through its own forwarding.
- The group is a new session, so a Ctrl-C or a `killpg` aimed at the worker does not reach
  the child behind the worker's back: the worker decides (checkpoint, then re-queue).
- If the worker dies without asking (SIGKILL, OOM), the kernel sends the child SIGTERM
  (`PR_SET_PDEATHSIG`): it checkpoints and exits instead of training on as an orphan. The
  child asks for that itself, after exec (`workers/die_with_parent.py` says why).
"""

from __future__ import annotations

import collections
import contextlib
import json
import logging
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

STDERR_TAIL_LINES = 30
_DIE_WITH_PARENT = Path(__file__).with_name("die_with_parent.py")


def lmcore_command(run_file: Path, processes: int = 1, *extra: str) -> list[str]:
    """The command line training `run_file` in `processes` processes on this machine."""
    train = ["-m", "lmcore", "train", "--config", str(run_file), *extra]
    if processes == 1:
        return [sys.executable, *train]
    return [sys.executable, "-m", "torch.distributed.run", "--standalone",
            f"--nproc-per-node={processes}", *train]  # fmt: skip


class Child:
    """One running child process. Iterate `events()` in one thread; `stop()` from any."""

    def __init__(self, command: list[str], cwd: Path, env: dict[str, str] | None = None) -> None:
        self.command = command
        self.stopped_by: str | None = None  # why stop() was called: "cancel" | "shutdown"
        self._tail: collections.deque[str] = collections.deque(maxlen=STDERR_TAIL_LINES)
        guarded = [sys.executable, "-I", str(_DIE_WITH_PARENT), str(os.getpid()), *command]
        self.process = subprocess.Popen(
            guarded, cwd=cwd, env={**os.environ, **(env or {})}, stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, bufsize=1,
            start_new_session=True,
        )  # fmt: skip
        self._stderr = threading.Thread(target=self._read_stderr, daemon=True,
                                        name=f"stderr-{self.process.pid}")  # fmt: skip
        self._stderr.start()

    def _read_stderr(self) -> None:
        for line in self.process.stderr:
            self._tail.append(line.rstrip("\n"))

    def events(self) -> Iterator[dict[str, Any]]:
        """Each JSON object the child prints, until it closes stdout; other lines are logged."""
        for line in self.process.stdout:
            try:
                event = json.loads(line)
            except ValueError:
                logger.info("child %s: %s", self.process.pid, line.rstrip())
                continue
            if isinstance(event, dict):
                yield event

    def stop(self, why: str) -> None:
        """SIGTERM to the child's group: it checkpoints and exits (lmcore's EXIT_STOPPED)."""
        if self.stopped_by is None:
            self.stopped_by = why
        with contextlib.suppress(ProcessLookupError):  # already gone
            os.killpg(self.process.pid, signal.SIGTERM)

    def kill(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)

    def wait(self, timeout: float | None = None) -> int:
        code = self.process.wait(timeout)
        self._stderr.join(5)
        return code

    def error_tail(self, lines: int = 12) -> str:
        """The last lines of stderr, the traceback's end (the useful part) included."""
        return "\n".join(list(self._tail)[-lines:])
