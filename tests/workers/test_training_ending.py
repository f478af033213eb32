"""How a training child's end becomes the run's status (workers/training.py, `ending`)."""

import sys
from pathlib import Path

from webapp.jobs.models import JobStatus
from workers.child import Child
from workers.training import EXIT_STOPPED, ending

# lmcore before its SIGTERM handler is installed (encoding the corpus): the default action.
ENCODING = "import json, time; print(json.dumps({'event': 'prepared'}), flush=True); time.sleep(60)"


def test_a_cancel_while_the_corpus_is_encoded_is_cancelled_not_failed(tmp_path: Path):
    child = Child([sys.executable, "-c", ENCODING], cwd=tmp_path)
    assert next(child.events())["event"] == "prepared"
    child.stop("cancel")
    code = child.wait(30)
    assert ending(code, None, child.stopped_by, None, child.error_tail()) == (
        JobStatus.CANCELLED, "")  # fmt: skip


def test_a_crash_or_a_missing_done_line_is_still_a_failure():
    status, error = ending(-9, None, None, None, "MemoryError")
    assert status == JobStatus.FAILED and "SIGKILL: out of memory?" in error
    assert ending(EXIT_STOPPED, None, None, None, "")[0] == JobStatus.FAILED
    cancelled = {"event": "done", "reason": "cancelled", "step": 5}
    assert ending(EXIT_STOPPED, cancelled, "cancel", None, "") == (JobStatus.CANCELLED, "")
    assert ending(1, None, "shutdown", None, "") == (JobStatus.QUEUED, "")
    assert ending(0, {"reason": "max_steps"}, None, "resume went wrong", "")[0] == "failed"
