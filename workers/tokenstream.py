"""Writing a playground request's token stream (keys and entry kinds: webapp/playground/streams.py).

`Reply` buffers a request's entries and writes them in order: tokens are batched (the first
goes out at once, for time to first token, the rest every `PLAYGROUND_FLUSH_MS`), so a fast
model costs one XADD per ~30 ms instead of one per token, and an inference loop writes every
request it served in a step in one pipeline (`write_replies`). MAXLEN is exact and sized
above any request's entry count, so trimming never eats the start of a stream a client may
still resume from; EXPIRE bounds how long a finished stream stays resumable. Only the first
write (the task's `start`) creates the stream: later ones are NOMKSTREAM, so a stream whose
key vanished (Redis restarted without persistence: its reader is gone too) is not made
again; the reply is marked `vanished` and the inference loop cancels its generation instead
of running it to its token limit.
"""

from __future__ import annotations

import json
import logging
import math
import threading
import time
from collections.abc import Iterable
from contextlib import ExitStack
from typing import Any

import redis
from django.conf import settings

from webapp.playground.streams import RELEASE_ACTIVE, active_key, cancel_key, stream_key

logger = logging.getLogger(__name__)
MAX_QUEUED_ENTRIES = 64  # per stream: a long wait reports its first 64 position changes


def max_entries() -> int:
    """More than any request writes: at most one entry per token, plus its queue positions,
    for two streams, plus a few."""
    return 2 * (settings.PLAYGROUND_MAX_NEW_TOKENS + MAX_QUEUED_ENTRIES) + 16


_pool: redis.ConnectionPool | None = None


def connection() -> redis.Redis:
    """A client on the worker's one connection pool (thread-safe)."""
    global _pool
    if _pool is None:
        _pool = redis.ConnectionPool.from_url(
            settings.REDIS_URL, socket_timeout=5, socket_connect_timeout=2
        )
    return redis.Redis(connection_pool=_pool)


class Reply:
    """The entries of one request's stream, buffered here and written in order by whoever
    flushes: the task (`flush()`), or an inference loop, which writes every request it
    touched in one pipeline per step (`write_replies`). Thread-safe: the two loops of a side
    by side of two models share one reply.

    The request ends with one final entry (the last stream's `done`, a `score` or an
    `error`), which also frees the user's active slot in the same pipeline (before the client
    can read it and ask again), then `end`; anything added after that is dropped.
    """

    def __init__(self, user_id: int, request_id: str, streams: int = 1) -> None:
        self.user_id, self.request_id = user_id, request_id
        self.key = stream_key(user_id, request_id)
        self.cancel_key = cancel_key(user_id, request_id)
        self.flush_s = settings.PLAYGROUND_FLUSH_MS / 1000
        self.lock = threading.Lock()
        self.open_streams, self.closed = streams, False
        self._entries: list[tuple[str, dict[str, Any]]] = []
        self._tokens: dict[int, list[dict[str, Any]]] = {}  # waiting for the next flush
        self._queued: dict[int, int] = {}  # queued entries written, per stream
        self._release = False
        self._last_flush, self._sent_first = 0.0, False
        self.created = False  # the stream exists: its first write made it
        self.vanished = False  # its key went after that (Redis restarted): nothing more to write

    def add(self, kind: str, data: dict[str, Any]) -> None:
        with self.lock:
            if self.closed:
                return
            if kind == "queued":
                count = self._queued.get(data["stream"], 0)
                if count >= MAX_QUEUED_ENTRIES:
                    return
                self._queued[data["stream"]] = count + 1
            self._move_tokens()  # keep order: pending tokens go before any other entry
            self._entries.append((kind, data))

    def token(self, stream: int, token: dict[str, Any]) -> None:
        with self.lock:
            if not self.closed:
                self._tokens.setdefault(stream, []).append(token)

    def finish_stream(self, done: dict[str, Any]) -> None:
        """A stream's `done`; the last one ends the request."""
        with self.lock:
            self.open_streams -= 1
            final = self.open_streams == 0
        self._close("done", done) if final else self.add("done", done)

    def fail(self, message: str, code: str = "internal") -> None:
        """End the request with an `error` (code "invalid" when it cannot be served as asked)."""
        self._close("error", {"message": message, "code": code})

    def finish(self, kind: str, data: dict[str, Any]) -> None:
        """End the request with one final entry (`score`)."""
        self._close(kind, data)

    def flush(self, conn: redis.Redis | None = None) -> None:
        """Write what is buffered now (tokens too)."""
        write_replies(conn or connection(), [self], force=True)

    def _close(self, kind: str, data: dict[str, Any]) -> None:
        with self.lock:
            if self.closed:
                return
            self._move_tokens()
            self._entries += [(kind, data), ("end", {})]
            self._release, self.closed = True, True

    def _move_tokens(self) -> None:
        self._entries += [("tokens", {"stream": s, "tokens": t}) for s, t in self._tokens.items()]
        self._tokens = {}

    def _drain(self, pipe: Any, now: float, force: bool) -> range:
        """Queue the due entries into pipe (the caller holds the lock); the pipeline
        positions of their XADDs (empty: nothing was due)."""
        if self._tokens and (
            force or not self._sent_first or now - self._last_flush >= self.flush_s
        ):
            self._sent_first, self._last_flush = True, now  # the first token goes out at once
            self._move_tokens()
        if self.vanished:
            self._entries = []  # nobody can read them: the stream and its reader are gone
        if not self._entries:
            return range(0)
        if self._release:  # the final entry is among these: free the slot first
            pipe.eval(RELEASE_ACTIVE, 1, active_key(self.user_id), self.request_id)
            self._release = False
        first = len(pipe)
        for kind, data in self._entries:
            fields = {"kind": kind, "data": _dumps(data)}
            pipe.xadd(self.key, fields, maxlen=max_entries(), approximate=False,
                      nomkstream=self.created)  # fmt: skip
        pipe.expire(self.key, settings.PLAYGROUND_STREAM_TTL_S)
        self._entries = []
        return range(first, len(pipe) - 1)

    def _written(self, results: list[Any], xadds: range) -> None:
        """After the pipeline: a NOMKSTREAM XADD answered nil, so the key is gone."""
        if not xadds:
            return
        if any(results[i] is None for i in xadds):
            if not self.vanished:
                logger.warning("the token stream %s is gone (Redis restarted?): its generation "
                               "stops", self.key)  # fmt: skip
            self.vanished = True
        else:
            self.created = True


def write_replies(conn: redis.Redis, replies: Iterable[Reply], force: bool = False) -> None:
    """Write the due entries of many replies in one pipeline (one round trip). The replies'
    locks are held, in a fixed order, until it is written: two loops sharing a reply cannot
    write its entries out of order."""
    pipe = conn.pipeline(transaction=False)
    now = time.perf_counter()
    with ExitStack() as held:
        xadds: list[tuple[Reply, range]] = []
        for reply in sorted(replies, key=lambda r: r.key):
            held.enter_context(reply.lock)
            xadds.append((reply, reply._drain(pipe, now, force)))
        if any(positions for _, positions in xadds):
            results = pipe.execute()
            for reply, positions in xadds:
                reply._written(results, positions)


def _dumps(data: dict[str, Any]) -> str:
    """JSON that browsers parse: NaN and infinities (e.g. bpb of zero bytes) become null."""
    try:
        return json.dumps(data, allow_nan=False)
    except ValueError:
        return json.dumps(_finite(data), allow_nan=False)


def _finite(value: Any) -> Any:
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_finite(v) for v in value]
    return value
