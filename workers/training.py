"""Training runs on the `gpu_train` queue, each in a supervised child process.

`train_model_run` is a wake-up: it returns at once, after `dispatch()` has claimed the oldest
queued run this worker can hold (by `queued_at`, needing no more than its devices) and handed
it to a supervising thread. The worker's main thread therefore keeps serving its queue, so a
`ping` is answered (and `/healthz` stays green) while a run trains; and since one worker holds
one run at a time, a second run waits in the database, not in a blocked thread.

The supervisor (`_Supervisor._main`): write RUN/run.json from the row; start `python -m
lmcore train --config RUN/run.json` in its own process group (workers/child.py), or for
several devices `torchrun` after a `--prepare-only` child has encoded the corpus once (a
single process encodes it itself); hand each JSON line (workers/run_events.py) to the run
to record (`TrainingRun.record_event`) through an `Outbox` that retries database writes
(workers/outbox.py), phases included ("starting" is the supervisor's own, "encoding" comes
with the encoder's byte counts), and copy lmcore's progress to the row; watch for a cancel.
How it ends:
- the child's "done" line and exit 0: `succeeded`, and a new model version;
- cancel (row or Redis flag): SIGTERM to the child's group, which checkpoints: `cancelled`;
- its owner over the storage quota at a checkpoint (the check runs in the events' thread):
  the same stop, `cancelled` with a message saying why; Resume continues once they have room;
- a worker shutdown (a deploy's SIGTERM): the same SIGTERM, then the run goes back to
  `queued` with its checkpoint, and the next worker that starts resumes it by itself;
- anything else (a crash, an OOM kill): `failed`, with the last lines of the child's stderr.
A run with a checkpoint always resumes from it: the first step must be the checkpoint's + 1,
and the events stored past the checkpoint (steps that are now trained again) are deleted first.
"""

from __future__ import annotations

import logging
import math
import signal
import threading
from pathlib import Path
from typing import Any

from celery import shared_task
from celery.signals import worker_ready, worker_shutdown, worker_shutting_down
from django.conf import settings

from lmcore.errors import LmcoreError
from lmcore.threads import share_of_cores
from webapp.jobs import cancel as cancel_flags
from webapp.jobs.models import JobStatus
from webapp.jobs.reporting import JobReporter
from webapp.training import capacity
from webapp.training.models import TrainingRun
from workers.child import Child, lmcore_command
from workers.jobs import corpus_paths
from workers.outbox import retry
from workers.run_events import RunEvents

logger = logging.getLogger(__name__)
ROOT = Path(__file__).resolve().parents[1]
EXIT_STOPPED = 75  # lmcore.commands.train.EXIT_STOPPED: checkpointed after a SIGTERM
_lock = threading.Lock()
_active: dict[int, _Supervisor] = {}  # run id → its supervisor, in this worker process


@shared_task(name="workers.training.train_model_run")  # routed to gpu_train (settings)
def train_model_run(run_id: int | None = None, resume: bool = False) -> int | None:  # noqa: ARG001
    """Wake this worker: claim a queued run if it is free. (`run_id` and `resume` are kept
    for messages already queued; the queue's order and the checkpoint decide.)"""
    return dispatch()


def dispatch() -> int | None:
    """Claim the oldest queued run that fits this worker and supervise it in a thread."""
    devices = capacity.local_devices()
    with _lock:
        if _active:
            return None
        for run in TrainingRun.objects.filter(status=JobStatus.QUEUED, devices__lte=devices
                                              ).order_by("queued_at", "pk"):  # fmt: skip
            if run.mark_running():
                logger.info("run %s claimed: a thread supervises its training", run.pk)
                _drop_stale_flag(run)
                supervisor = _Supervisor(run)
                _active[run.pk] = supervisor
                supervisor.thread.start()
                return run.pk
    return None


def _drop_stale_flag(run: TrainingRun) -> None:
    """A cancel flag already there when a run is claimed is not for this claim: a cancel of a
    queued run ends it on the row, so the claim would have failed. It is the flag of the run's
    own last cancel (a resumed run), or one left for the same id by a database made again
    beside the same Redis (the flag lives 24 h); left, it cancelled the run within a second.
    A cancel that comes after the claim still acts: the row says `cancelling`, which the
    heartbeat reads."""
    try:
        cancel_flags.clear_flag(run)
    except Exception:  # Redis away: the row stays the truth for cancels
        logger.warning("could not clear run %s's cancel flag", run.pk, exc_info=True)


class _Supervisor:
    def __init__(self, run: TrainingRun) -> None:
        self.run = run
        self.child: Child | None = None
        self.quota_message = ""
        self.shutting_down = threading.Event()
        self.thread = threading.Thread(target=self._main, name=f"train-{run.pk}")
        self.threads = train_threads(run.devices)

    def _main(self) -> None:
        try:
            with JobReporter(self.run, self.run.group) as reporter:
                self.reporter = reporter
                reporter.push(self.run.status_event())
                status, error = self._outcome()
                if status != JobStatus.QUEUED or not retry("re-queue", self.run.mark_requeued):
                    # (a cancel that came during a shutdown wins: the run ends cancelled)
                    status = JobStatus.CANCELLED if status == JobStatus.QUEUED else status
                    retry("finish", lambda: self.run.finish(status, error=error))
                retry("refresh", self.run.refresh_from_db)
                reporter.push(self.run.status_event())
        except Exception:
            logger.exception("supervising training run %s failed", self.run.pk)
        finally:
            with _lock:
                _active.pop(self.run.pk, None)
        if not self.shutting_down.is_set():
            _wake()

    def _outcome(self) -> tuple[str, str]:
        try:
            return self._supervise()
        except LmcoreError as exc:
            return JobStatus.FAILED, str(exc)
        except Exception as exc:
            logger.exception("training run %s failed", self.run.pk)
            return JobStatus.FAILED, f"internal error ({type(exc).__name__}); see the worker log"

    def _supervise(self) -> tuple[str, str]:
        run = self.run
        resumed_from = checkpoint_step(run)
        events = RunEvents(run, self.reporter, resumed_from, self._over_quota)
        try:
            events.put({"event": "phase", "phase": "starting", "step": resumed_from or 0})
            return self._run_children(events, resumed_from)
        finally:
            events.close()  # (again, after _train's: nothing left to store by then)

    def _run_children(self, events: RunEvents, resumed_from: int | None) -> tuple[str, str]:
        run = self.run
        if resumed_from is None:
            write_run_file(run)
            # One process encodes the corpus itself (nobody waits for it); several processes
            # train on a corpus a separate child encoded before they start.
            ended = self._prepare(events) if run.devices > 1 else None
            if ended is not None:
                return ended
        else:
            dropped = retry(
                "drop events", lambda: run.events.filter(step__gt=resumed_from).delete()
            )
            logger.info("run %s resumes at step %s (%s later events dropped)", run.pk,
                        resumed_from, dropped[0])  # fmt: skip
        extra = ("--resume",) if resumed_from is not None else ()
        command = lmcore_command(run_file(run), run.devices, "--threads", str(self.threads), *extra)
        return self._train(command, events)

    def _prepare(self, events: RunEvents) -> tuple[str, str] | None:
        """Encode the corpus once, before any training process starts; None when done."""
        child = self._start(lmcore_command(run_file(self.run), 1, "--prepare-only"))
        for event in child.events():
            if event.get("event") in ("phase", "progress"):  # encoding, bytes done of total
                events.put(event)
        code = child.wait()
        if child.stopped_by == "shutdown":
            return JobStatus.QUEUED, ""
        if child.stopped_by == "cancel":
            return JobStatus.CANCELLED, ""
        return None if code == 0 else (JobStatus.FAILED, _crash_message(code, child.error_tail()))

    def _train(self, command: list[str], events: RunEvents) -> tuple[str, str]:
        child = self._start(command)
        try:
            for event in child.events():
                events.put(event)
        finally:
            code = child.wait()
            if not events.close():
                raise LmcoreError("the database stayed unreachable: events could not be stored")
        done = events.done
        if done is not None:
            retry("record the end", lambda: self.run.record_end(done))
        status, error = ending(code, done, child.stopped_by, events.problem, child.error_tail())
        if child.stopped_by == "quota" and status == JobStatus.CANCELLED:
            error = self.quota_message
        if done is not None and status in (JobStatus.SUCCEEDED, JobStatus.CANCELLED):
            retry("register a version", lambda: _register(self.run, done))
        return status, error

    def _over_quota(self, message: str) -> None:
        """From the events' thread: the owner is over quota at a checkpoint; stop there."""
        self.quota_message = message
        if self.child is not None:
            self.child.stop("quota")

    def _start(self, command: list[str]) -> Child:
        # torchrun would otherwise set OMP_NUM_THREADS=1 for its ranks (lmcore/threads.py)
        self.child = child = Child(command, cwd=ROOT, env={"OMP_NUM_THREADS": str(self.threads)})
        logger.info("run %s: child %s started (%s)", self.run.pk, child.process.pid,
                    " ".join(command[1:]))  # fmt: skip
        if self.shutting_down.is_set():
            child.stop("shutdown")
        threading.Thread(target=self._watch, args=(child,), daemon=True).start()
        return child

    def _watch(self, child: Child) -> None:
        """Stop the child on a cancel: the row (heartbeat thread) or the Redis flag."""
        flags, flag = cancel_flags.client(), cancel_flags.flag_key(self.run)
        try:
            while child.process.poll() is None:
                if self.reporter.cancelled.is_set() or _flag_raised(flags, flag):
                    child.stop("cancel")
                    return
                self.reporter.cancelled.wait(0.5)
        finally:
            flags.close()

    def shutdown(self) -> None:
        self.shutting_down.set()
        child = self.child
        if child is not None:
            child.stop("shutdown")


def train_threads(processes: int) -> int:
    """Intra-op threads for each of a run's `processes`: the setting, else this worker's
    usable cores divided among them (lmcore/threads.py)."""
    return settings.TRAIN_TORCH_THREADS or share_of_cores(processes)


def _flag_raised(flags: Any, flag: str) -> bool:
    try:
        return bool(flags.exists(flag))
    except Exception:  # Redis away: the row (read by the heartbeat) still carries a cancel
        return False


def ending(
    code: int, done: dict[str, Any] | None, stopped_by: str | None, problem: str | None,
    tail: str,
) -> tuple[str, str]:  # fmt: skip
    """A training child's (status, error) from its exit code, its "done" line and why it was
    stopped; a "done" line with status succeeded or cancelled has a version to register."""
    # Under torchrun a rank's EXIT_STOPPED reaches us as torchrun's failure: the "done"
    # line (reason "cancelled", written after the checkpoint) is what says it stopped well.
    stopped = done is not None and done["reason"] == "cancelled"
    if stopped_by == "shutdown" and (stopped or done is None):
        return JobStatus.QUEUED, ""
    if problem:
        return JobStatus.FAILED, problem
    # A SIGTERM before lmcore installs its handler (while it encodes the corpus) ends the
    # process by the signal itself: nothing trained, nothing to save, but still a cancel.
    if (
        stopped_by in ("cancel", "quota")
        and done is None
        and code in (-signal.SIGTERM, EXIT_STOPPED)
    ):
        return JobStatus.CANCELLED, ""
    if done is None or (code != 0 and not stopped):
        return JobStatus.FAILED, _crash_message(code, tail)
    return (JobStatus.CANCELLED, "") if stopped else (JobStatus.SUCCEEDED, "")


def _crash_message(code: int, tail: str) -> str:
    how = f"was killed by signal {-code}" if code < 0 else f"exited with status {code}"
    hint = " (SIGKILL: out of memory?)" if code == -9 else ""
    return f"The training process {how}{hint}.\n{tail}".rstrip()


def run_file(run: TrainingRun) -> Path:
    return run.run_file


def write_run_file(run: TrainingRun) -> Path:
    """RUN/run.json for lmcore, written by the run (`TrainingRun.write_run_spec`) with its
    corpora's text files (a fine-tune may have none: conversations only)."""
    text = not run.is_finetune or run.corpora.exists()
    return run.write_run_spec(corpus_paths(run) if text else [])


def checkpoint_step(run: TrainingRun) -> int | None:
    """The step to resume from; None when there is no checkpoint (or no run file: a run
    started before run files existed trains again from scratch)."""
    return run.checkpoint_step() if run_file(run).is_file() else None


def _register(run: TrainingRun, done: dict[str, Any]) -> None:
    from webapp.registry.actions import do_register_version

    if not run.has_checkpoint or done["step"] == 0:
        return
    finite = lambda v: v if isinstance(v, float) and math.isfinite(v) else None  # noqa: E731
    metrics = {"step": done["step"], "val_loss": finite(done.get("val_loss")),
               "val_bpb": finite(done.get("val_bpb")), "params": done.get("params"),
               "tokens_per_s": done.get("tokens_per_s"), "seconds": done.get("seconds"),
               "train_seconds": done.get("train_seconds"), "reason": done.get("reason"),
               "warning": done.get("warning") or ""}  # fmt: skip
    do_register_version(run, metrics)


def wake_if_queued() -> None:
    """Send a wake-up when runs wait in the queue (the beat's sweep calls this)."""
    if TrainingRun.objects.filter(status=JobStatus.QUEUED).exists():
        _wake()


def _wake() -> None:
    """Ask a gpu_train worker (this one, now free, or another) to claim the next run."""
    try:
        train_model_run.delay()
    except Exception:  # the broker is down: worker_ready and the next wake-up will do it
        logger.warning("could not send a wake-up to gpu_train", exc_info=True)


def _serves_training(consumer: Any) -> bool:
    queues = getattr(getattr(consumer, "task_consumer", None), "queues", None) or []
    return any(q.name == "gpu_train" for q in queues)


@worker_ready.connect
def _on_worker_ready(sender: Any = None, **kwargs: Any) -> None:
    """Declare this worker's devices, and resume runs a shutdown put back in the queue."""
    if _serves_training(sender):
        capacity.start_declaring(sender.hostname if hasattr(sender, "hostname") else None)
        retry("dispatch", dispatch, 30)


@worker_shutting_down.connect
def _on_shutting_down(**kwargs: Any) -> None:
    """A deploy's SIGTERM: each child checkpoints and stops; its run goes back to the queue."""
    with _lock:
        supervisors = list(_active.values())
    for supervisor in supervisors:
        supervisor.shutdown()


@worker_shutdown.connect
def _on_shutdown(**kwargs: Any) -> None:
    with _lock:
        supervisors = list(_active.values())
    for supervisor in supervisors:
        supervisor.shutdown()
        supervisor.thread.join(settings.TRAIN_STOP_TIMEOUT_S)
    capacity.stop_declaring()
