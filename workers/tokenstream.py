"""Writing a playground request's token stream (keys and entry kinds: webapp/playground/streams.py).

The writer batches tokens: the first token goes out at once (time to first token), the rest
every `flush_s`, so a fast model costs one XADD per ~30 ms instead of one per token. MAXLEN is
exact and sized above any request's entry count, so trimming never eats the start of a stream
a client may still resume from; EXPIRE bounds how long a finished stream stays resumable.
"""

from __future__ import annotations

import json
import math
import time
from typing import Any

import redis
from django.conf import settings

from webapp.playground.streams import RELEASE_ACTIVE, active_key, cancel_key, stream_key


def max_entries() -> int:
    """More than any request writes: at most one entry per token for two streams, plus a few."""
    return 2 * settings.PLAYGROUND_MAX_NEW_TOKENS + 16


class StreamWriter:
    """Appends a request's entries to its stream from synchronous worker code."""

    def __init__(self, user_id: int, request_id: str, flush_s: float | None = None) -> None:
        self.user_id, self.request_id = user_id, request_id
        self.key = stream_key(user_id, request_id)
        self.flush_s = settings.PLAYGROUND_FLUSH_MS / 1000 if flush_s is None else flush_s
        self.conn = redis.Redis.from_url(
            settings.REDIS_URL, socket_timeout=5, socket_connect_timeout=2
        )
        self._pending: dict[int, list[dict[str, Any]]] = {}
        self._last_flush = 0.0
        self._sent_first = False
        self._cancel_checked, self._cancelled = 0.0, False

    def add(self, kind: str, data: dict[str, Any], final: bool = False) -> None:
        """Append an entry; `final` (the request's last done, its error or its score) also
        frees the user's active slot, before the client can read the entry and ask again."""
        self.flush()  # keep order: pending tokens go before any other entry
        self._xadd([(kind, data)], release=final)

    def token(self, stream: int, token: dict[str, Any]) -> None:
        self._pending.setdefault(stream, []).append(token)
        now = time.perf_counter()
        if not self._sent_first or now - self._last_flush >= self.flush_s:
            self._sent_first = True
            self.flush()

    def flush(self) -> None:
        if self._pending:
            entries = [("tokens", {"stream": s, "tokens": t}) for s, t in self._pending.items()]
            self._pending = {}
            self._xadd(entries)
        self._last_flush = time.perf_counter()

    def cancelled(self, every_s: float = 0.005) -> bool:
        """The cancel flag, read from Redis at most every `every_s` (one round trip each)."""
        now = time.perf_counter()
        if not self._cancelled and now - self._cancel_checked >= every_s:
            self._cancel_checked = now
            self._cancelled = bool(self.conn.exists(cancel_key(self.user_id, self.request_id)))
        return self._cancelled

    def close(self) -> None:
        """Write `end`, release the user's active slot if it is this request's, disconnect."""
        try:
            self.add("end", {})
            self.conn.eval(RELEASE_ACTIVE, 1, active_key(self.user_id), self.request_id)
        finally:
            self.conn.close()

    def _xadd(self, entries: list[tuple[str, dict[str, Any]]], release: bool = False) -> None:
        pipe = self.conn.pipeline(transaction=False)
        if release:
            pipe.eval(RELEASE_ACTIVE, 1, active_key(self.user_id), self.request_id)
        for kind, data in entries:
            fields = {"kind": kind, "data": _dumps(data)}
            pipe.xadd(self.key, fields, maxlen=max_entries(), approximate=False)
        pipe.expire(self.key, settings.PLAYGROUND_STREAM_TTL_S)
        pipe.execute()

    def __enter__(self) -> StreamWriter:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


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
