"""The `gpu_infer` worker's inference loops: one thread per loaded model runs lmcore's
continuous-batching scheduler (lmcore/scheduler.py) over every stream of that model.

    generate_text task --submit--> ModelLoop(version).inbox --> the loop's thread:
        load the model once (in this thread: other models' loops go on meanwhile), then
        per step: take new streams, read every cancel flag (one MGET), scheduler.step(),
        write every touched request's entries (one pipeline)

A task returns once its streams are handed over, so Celery's threads do not bound how many
streams run: the scheduler's slots do (as many as `PLAYGROUND_MEMORY_MB` holds beside the
weights, at most `PLAYGROUND_MAX_BATCH`: `slots_within`), and streams beyond them wait in
order, the client told its position (`queued` entries; `loading` while a model loads).
Loaded models form an LRU within `PLAYGROUND_MEMORY_MB` (weights + KV slots): a loop evicts
idle loops, least recently used first, before it loads, and waits while busy ones leave no
room. Side by side of one version is two streams in one batch; of two versions, one stream
in each model's loop, both writing to the request's one `Reply`.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

import redis
from django.conf import settings
from django.db import connection as db

from lmcore.errors import LmcoreError
from webapp.system.outage import OutageLog
from workers.chatfit import fit_chat
from workers.loaded_model import Loaded, inference_device, load, load_version, prompt_ids
from workers.tokenstream import Reply, connection, write_replies

logger = logging.getLogger(__name__)
_cancel_reads = OutageLog(logger, "reading the streams' cancel flags")


@dataclass(eq=False)
class Stream:
    """One stream of a generate request, as handed to a model's loop."""

    reply: Reply
    index: int  # 0, or 1 for the second column of side by side
    prompt: str
    params: dict[str, Any]
    prefix_ids: list[int] = field(default_factory=list)
    chat: list[dict[str, str]] | None = None
    fit_context: bool = False  # chat: leave out the oldest turns that do not fit (chatfit.py)
    prompt_tokens: int = 0
    dropped: int = 0  # chat messages left out of the prompt
    asked: int = 0  # max_new_tokens asked; `allowed` by the context (lmcore/chatwindow.py)
    allowed: int = 0


class ModelLoop:
    """The thread that owns one loaded model and its scheduler."""

    def __init__(self, version_id: int, registry: Registry) -> None:
        self.version_id, self.registry = version_id, registry
        self.inbox: queue.SimpleQueue[Stream | None] = queue.SimpleQueue()
        self.ready = threading.Event()  # set once loaded, or once loading failed
        self.error: str | None = None
        self.loaded: Loaded | None = None
        self.users = 0  # streams and scores holding it (guarded by the registry's lock)
        self.bytes = 0  # weights + KV slots, reserved before loading
        self.streams: dict[int, Stream] = {}  # by scheduler request id
        self.thread = threading.Thread(target=self._run, name=f"infer-{version_id}", daemon=True)

    def wait_loaded(self) -> Loaded:
        self.ready.wait()
        if self.loaded is None:
            raise LmcoreError(self.error or "the model could not be loaded")
        return self.loaded

    def _run(self) -> None:
        try:
            self.loaded, self.slots = self.registry.load(self)
            self.scheduler = self._new_scheduler()
        except Exception as exc:
            if not isinstance(exc, LmcoreError):
                logger.exception("loading model version %s failed", self.version_id)
            self.error = str(exc) if isinstance(exc, LmcoreError) else f"internal error ({exc})"
            self.ready.set()
            self.registry.forget(self)  # no new stream comes here: fail those that did
            while (stream := self._next(block=False)) is not None:
                self._fail(stream, self.error, "invalid")
            return
        self.ready.set()
        self._serve()

    def _new_scheduler(self) -> Any:
        from lmcore.scheduler import Scheduler, SchedulerConfig

        config = SchedulerConfig(self.slots, prefill_chunk=settings.PLAYGROUND_PREFILL_CHUNK)
        return Scheduler(
            self.loaded.model, self.loaded.bytes_table, config, bos_id=self.loaded.bos_id,
            max_new_tokens_cap=settings.PLAYGROUND_MAX_NEW_TOKENS,
        )  # fmt: skip

    def _serve(self) -> None:
        """The main loop: until evicted, admit new streams, step, write."""
        conn = connection()
        while True:
            while (stream := self._next(block=self.scheduler.idle)) is not None:
                self._admit(stream)
            if self.registry.aborting:
                for stream in self.streams.values():
                    self._fail(stream, "the inference worker stopped; try again")
                return
            if self.scheduler.idle:
                if self.registry.stopped(self):
                    return
                continue
            self._read_cancels(conn)
            try:
                events = self.scheduler.step()
            except Exception:
                logger.exception("inference step of model version %s failed", self.version_id)
                for stream in list(self.streams.values()):
                    self._fail(stream, "internal error during generation; see the worker log")
                self.streams.clear()
                self.scheduler = self._new_scheduler()
                continue
            self._write(conn, self._route(events))

    def _next(self, block: bool) -> Stream | None:
        try:
            return self.inbox.get(block=block)
        except queue.Empty:
            return None

    def _admit(self, stream: Stream) -> None:
        from lmcore.chat import reply_params
        from lmcore.sampling import SamplingParams

        if stream.reply.closed:  # its other stream failed, or it was withdrawn
            self.registry.release(self)
            return
        try:
            params = SamplingParams.from_dict(stream.params)
            stream.asked, chat = params.max_new_tokens, fit_chat(self.loaded, stream, params)
            ids, end_ids = prompt_ids(self.loaded, stream.prompt, stream.prefix_ids, chat)
            if chat is not None:  # the prompt stays in the model's view: the reply stops
                params = reply_params(params, len(ids), self.loaded.model.config.context)
            request_id = self.scheduler.submit(ids, params, stream=stream.index, end_ids=end_ids)
        except LmcoreError as exc:
            self._fail(stream, str(exc), "invalid")
            return
        stream.prompt_tokens, stream.allowed = len(ids), params.max_new_tokens
        self.streams[request_id] = stream

    def _read_cancels(self, conn: Any) -> None:
        """One MGET for every stream's cancel flag; a closed reply cancels its streams too
        (with Redis away, only that), and so does one whose stream key vanished."""
        streams = list(self.streams.items())
        try:
            flags = conn.mget([s.reply.cancel_key for _, s in streams])
            _cancel_reads.worked()
        except redis.RedisError as exc:
            _cancel_reads.failed(exc)
            flags = [None] * len(streams)
        for (request_id, stream), flag in zip(streams, flags, strict=True):
            if flag is not None or stream.reply.closed or stream.reply.vanished:
                self.scheduler.cancel(request_id)

    def _route(self, events: list) -> set[Reply]:
        from lmcore.chatwindow import done_reason
        from lmcore.engine import wire_token

        touched = set()
        for request_id, event in events:
            stream = self.streams[request_id]
            touched.add(stream.reply)
            if event["event"] == "token":
                stream.reply.token(stream.index, wire_token(event))
            elif event["event"] == "queued":
                stream.reply.add("queued", {"stream": stream.index, "position": event["position"]})
            else:
                stats = {k: event[k] for k in ("tokens", "ttft_ms", "tokens_per_s", "seed")}
                stats.update(prompt_tokens=stream.prompt_tokens, dropped=stream.dropped)
                reason = done_reason(event["reason"], stream.asked, stream.allowed)
                done = {"stream": stream.index, "reason": reason, "stats": stats,
                        "text": event["text"]}  # fmt: skip
                stream.reply.finish_stream(done)
                del self.streams[request_id]
                self.registry.release(self)
        return touched

    def _write(self, conn: Any, replies: set[Reply]) -> None:
        """Write a step's entries. If Redis fails, those entries are lost: each request
        touched ends with an error (written once Redis answers again) and is cancelled at the
        next step, and the loop goes on serving."""
        try:
            write_replies(conn, replies)
        except redis.RedisError:
            logger.warning("writing token streams failed; their requests end", exc_info=True)
            for reply in replies:
                reply.fail("the token stream could not be written (Redis); try again")

    def _fail(self, stream: Stream, message: str, code: str = "internal") -> None:
        stream.reply.fail(message, code)
        try:
            write_replies(connection(), {stream.reply})
        except redis.RedisError:
            logger.warning("writing a failed stream's error failed", exc_info=True)
        finally:
            self.registry.release(self)


class Registry:
    """The worker's model loops by version id: least recently used first."""

    def __init__(self) -> None:
        self.lock = threading.Condition(threading.RLock())
        self.loops: OrderedDict[int, ModelLoop] = OrderedDict()
        self._stopping: set[ModelLoop] = set()
        self.closing = self.aborting = False  # warm shutdown: see `shutdown`

    def submit(self, version_id: int, stream: Stream) -> None:
        """Hand a stream to its model's loop (under the lock: a loop that fails to load
        forgets itself first, then fails every stream it holds, so none is lost)."""
        with self.lock:
            if self.closing:
                stream.reply.fail("the inference worker is stopping; try again")
                stream.reply.flush()
                return
            self.acquire(version_id).inbox.put(stream)

    def acquire(self, version_id: int) -> ModelLoop:
        """The loop serving a version (started, and loading, if there was none), held until
        `release`: a held loop is never evicted."""
        with self.lock:
            loop = self.loops.get(version_id)
            if loop is None:
                loop = self.loops[version_id] = ModelLoop(version_id, self)
                loop.thread.start()
            self.loops.move_to_end(version_id)
            loop.users += 1
            return loop

    def is_ready(self, version_id: int) -> bool:
        with self.lock:
            loop = self.loops.get(version_id)
            return loop is not None and loop.ready.is_set()

    def release(self, loop: ModelLoop) -> None:
        with self.lock:
            loop.users -= 1
            if loop.users == 0:
                self.lock.notify_all()  # a loader waiting for room may evict it now

    def load(self, loop: ModelLoop) -> tuple[Loaded, int]:
        """Make room within the memory budget, then load (in the loop's thread)."""
        from lmcore.checkpoint import read_config
        from lmcore.config import GPTConfig
        from lmcore.estimate import estimate_params
        from lmcore.slotcache import slot_bytes

        try:  # the database is needed only here: not held open while waiting for room
            version = load_version(loop.version_id)
        finally:
            db.close()  # this thread is long-lived (a failed load ends it, too)
        try:
            config = GPTConfig(**read_config(version.directory)["model"])
        except (LmcoreError, TypeError, ValueError) as exc:
            raise LmcoreError(f"{version}: the model cannot be loaded ({exc})") from exc
        device = inference_device()
        weights, kv = (
            4 * estimate_params(config),
            slot_bytes(config, 2 if device.type == "cuda" else 4),
        )
        slots = slots_within(settings.PLAYGROUND_MEMORY_MB * 2**20, weights, kv)
        if slots < 1:
            raise LmcoreError(
                f"{version} needs {(weights + kv) / 2**20:.0f} MB (weights and one stream's KV "
                f"cache) but the worker's budget is {settings.PLAYGROUND_MEMORY_MB} MB "
                "(BOTTEGA_PLAYGROUND_MEMORY_MB)"
            )
        self._reserve(loop, weights + slots * kv)
        return load(version, device), slots

    def _reserve(self, loop: ModelLoop, need: int) -> None:
        budget = settings.PLAYGROUND_MEMORY_MB * 2**20
        with self.lock:
            while True:
                others = [other for other in self.loops.values() if other is not loop]
                if sum(other.bytes for other in others) + need <= budget:
                    loop.bytes = need
                    return
                idle = [other for other in others if other.users == 0 and other.bytes]
                if idle:
                    self._evict(idle[0])  # least recently used first
                else:
                    self.lock.wait()  # busy models leave no room: wait for one to go idle

    def _evict(self, loop: ModelLoop) -> None:
        del self.loops[loop.version_id]
        self._stopping.add(loop)
        loop.inbox.put(None)  # wakes it; idle, it ends

    def stopped(self, loop: ModelLoop) -> bool:
        with self.lock:
            if loop in self._stopping:
                self._stopping.discard(loop)
                return True
            return False

    def forget(self, loop: ModelLoop) -> None:
        with self.lock:
            if self.loops.get(loop.version_id) is loop:
                del self.loops[loop.version_id]
            self.lock.notify_all()

    def shutdown(self, grace_s: float) -> None:
        """Warm shutdown: running streams get `grace_s` to finish, then the rest end with an
        error, so no client waits for an `end` that never comes."""
        deadline = time.monotonic() + grace_s
        with self.lock:
            self.closing = True
            while any(loop.users for loop in self.loops.values()):
                if not self.lock.wait(max(0.0, deadline - time.monotonic())):
                    break
            self.aborting = True
            loops = list(self.loops.values())
            for loop in loops:
                loop.inbox.put(None)  # wakes an idle loop: it sees `aborting` and ends
        for loop in loops:
            loop.thread.join(timeout=5)

    def clear(self) -> None:
        """Forget every loop, stopping each once it is idle (tests: nothing else calls it; a
        deleted version's loop stays loaded until it is evicted)."""
        with self.lock:
            for loop in list(self.loops.values()):
                self._evict(loop)


registry = Registry()


def slots_within(budget: int, weights: int, slot: int) -> int:
    """KV slots (streams decoded together) a model gets: as many as the budget holds beside its
    weights, at most `PLAYGROUND_MAX_BATCH`; 0 when not even one fits.

    Example: SmolLM2-135M on CPU (513 MiB of fp32 weights, 180 MiB a slot at its 4,096-token
    context) gets 19 slots in the default 4,096 MiB, where a fixed 32 would not load at all.
    """
    return max(0, min(settings.PLAYGROUND_MAX_BATCH, (budget - weights) // slot))
