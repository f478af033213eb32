"""Run a command that dies with its parent: `python -I die_with_parent.py PARENT_PID COMMAND...`.

It asks the kernel for SIGTERM when its parent dies (`PR_SET_PDEATHSIG`), then execs COMMAND,
which keeps that request. `workers/child.py` starts every training child through it.

Why a script and not `subprocess.Popen(preexec_fn=...)`: a `preexec_fn` is Python code run
between fork and exec, which Python's documentation calls unsafe when the parent has threads
(the worker has several: heartbeat, outbox, liveness). A lock another thread held at the fork
stays held in the child forever, and the run would hang before its first line. Here the fork
and exec are subprocess's own C code, and the request is made after exec, in a fresh process.

Run by path, not with `-m workers...`: importing the `workers` package starts the Celery app.
"""

import ctypes
import os
import signal
import sys

_PR_SET_PDEATHSIG = 1


def main(argv: list[str]) -> None:
    parent, command = int(argv[1]), argv[2:]
    try:
        prctl = ctypes.CDLL("libc.so.6", use_errno=True).prctl
    except (OSError, AttributeError):  # not Linux: an orphan trains on to its next limit
        prctl = None
    if prctl is not None:
        prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
    if os.getppid() != parent:  # the parent died before the request: nobody reads us
        sys.exit(f"die_with_parent: parent {parent} is gone; not starting {command[0]}")
    os.execvp(command[0], command)


if __name__ == "__main__":
    main(sys.argv)
