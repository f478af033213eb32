"""workers/child.py: a real child process in its own group, read line by line, stopped by
SIGTERM, and never left training after its parent is gone."""

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

from workers.child import Child

SCRIPT = textwrap.dedent("""
    import json, os, signal, sys, time
    stop = []
    signal.signal(signal.SIGTERM, lambda *a: stop.append(1))

    def say(line):
        # As lmcore's emit does: a reader that died (the parent's end of the pipe closes just
        # before the kernel's SIGTERM arrives) must not end the process before its handler.
        try:
            print(line, flush=True)
        except BrokenPipeError:
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())

    say(json.dumps({"event": "start"}))
    say("not json")
    for i in range(3000):
        if stop:
            open("stopped", "w").write(str(i))
            say(json.dumps({"event": "done", "reason": "cancelled", "step": i}))
            sys.exit(75)
        say(json.dumps({"event": "step", "step": i}))
        print(f"line {i} of stderr", file=sys.stderr, flush=True)
        time.sleep(0.01)
    sys.exit(3)
""")


def _child(tmp_path: Path) -> Child:
    script = tmp_path / "child.py"
    script.write_text(SCRIPT)
    return Child([sys.executable, str(script)], cwd=tmp_path)


def test_it_reads_events_and_stops_the_group_on_sigterm(tmp_path):
    child = _child(tmp_path)
    assert os.getpgid(child.process.pid) == child.process.pid  # its own group
    events = child.events()
    assert next(events) == {"event": "start"}
    assert next(events)["event"] == "step"  # the line that is not JSON was skipped
    child.stop("cancel")
    rest = list(events)
    assert child.wait(10) == 75 and child.stopped_by == "cancel"
    assert rest[-1]["event"] == "done" and rest[-1]["reason"] == "cancelled"


def test_a_crash_leaves_the_last_lines_of_stderr(tmp_path):
    child = _child(tmp_path)
    for event in child.events():
        if event.get("step") == 20:
            child.kill()
    assert child.wait(10) == -signal.SIGKILL
    tail = child.error_tail(3).splitlines()
    assert len(tail) == 3 and tail[-1].startswith("line ") and tail[-1].endswith("of stderr")


def test_the_child_is_stopped_when_its_parent_dies(tmp_path):
    """A worker SIGKILLed (OOM) must not leave its child training: PR_SET_PDEATHSIG."""
    script = tmp_path / "child.py"
    script.write_text(SCRIPT)
    parent = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(f"""
            import sys; sys.path.insert(0, {str(Path.cwd())!r})
            from workers.child import Child
            child = Child([sys.executable, {str(script)!r}], cwd={str(tmp_path)!r})
            print(child.process.pid, flush=True)
            for event in child.events():
                print(event["event"], flush=True)
        """)],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    pid = int(parent.stdout.readline())
    assert parent.stdout.readline().strip() == "start"
    parent.kill()
    parent.wait(10)
    # The kernel sent the child SIGTERM: it ran its handler (checkpoint, in lmcore) and exited,
    # long before the 30 s it would otherwise train.
    deadline = time.monotonic() + 20
    while Path(f"/proc/{pid}").exists() and _state(pid) != "Z":
        assert time.monotonic() < deadline, "the child still runs 20 s after its parent died"
        time.sleep(0.05)
    assert (tmp_path / "stopped").is_file()


def _state(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2]
    except FileNotFoundError:
        return "gone"


def test_the_child_is_the_command_itself_with_its_death_signal_set(tmp_path):
    """The guard execs the command in place (same pid, same group), after asking for SIGTERM
    on its parent's death: nothing of ours runs between fork and exec."""
    child = _child(tmp_path)
    assert next(child.events()) == {"event": "start"}
    cmdline = Path(f"/proc/{child.process.pid}/cmdline").read_bytes().split(b"\0")[:-1]
    assert cmdline == [sys.executable.encode(), str(tmp_path / "child.py").encode()]
    status = Path(f"/proc/{child.process.pid}/status").read_text()
    assert f"\nPPid:\t{os.getpid()}\n" in status
    child.stop("cancel")
    list(child.events())
    assert child.wait(10) == 75


def test_the_guard_starts_nothing_when_its_parent_is_already_gone(tmp_path):
    """The parent died between fork and the request: the kernel would never send the signal,
    so the guard must not start an orphan."""
    guard = Path(__file__).parents[2] / "workers" / "die_with_parent.py"
    marker = tmp_path / "ran"
    result = subprocess.run(
        [sys.executable, "-I", str(guard), "1", sys.executable, "-c",
         f"open({str(marker)!r}, 'w')"],
        capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    assert result.returncode == 1 and "parent 1 is gone" in result.stderr
    assert not marker.exists()
