"""The token stream of one playground request: a Redis Stream the worker appends to
(workers/tokenstream.py) and the websocket consumer tails (consumers.py). Both sides use the
names and entry kinds defined here.

Keys (user-scoped, so a request id only ever means something to its owner):
    bottega:pg:<user>:<request>          the stream: entries {"kind": ..., "data": JSON}
    bottega:pg:<user>:<request>:cancel   set by the consumer, read by the model's inference loop
    bottega:pg:active:<user>             the user's one active generation (value: request id)
    bottega:pg:worker:<worker>           a gpu_infer worker process alive (TTL, refreshed each s)

Entry kinds, in order: `start` (a worker took the request; its `worker` names the liveness
key, read and dropped by the web side: a killed worker's streams end with an error), `loading` ({}) when a model it
needs is not loaded yet, then per stream any number of `queued` ({"stream", "position"}:
every slot of the model's batch is taken; position 1 = next in line), `tokens` ({"stream", "tokens": [wire tokens]}) and one `done` ({"stream", "reason", "stats",
"text"}; reason: "max_new_tokens", "context_full" (a chat reply filled the context), "stop",
"end_of_text" or "cancelled"; stats: "tokens", "prompt_tokens", "ttft_ms", "tokens_per_s",
"seed", "dropped" (chat messages left out to fit the context)), or one `score`
result, or an `error` ({"message", "code"}: "invalid" when the request cannot be served as
asked, e.g. an empty prompt, "internal" otherwise); `end` always comes last.

The anatomy page's requests (workers/anatomy.py) use the same keys: `start`, then one
`anatomy` entry ({"json": lmcore.anatomy's object as JSON text}) or an `error`, then `end`.
"""

from __future__ import annotations

import json
from typing import Any


def stream_key(user_id: int, request_id: str) -> str:
    return f"bottega:pg:{user_id}:{request_id}"


def cancel_key(user_id: int, request_id: str) -> str:
    return f"{stream_key(user_id, request_id)}:cancel"


def active_key(user_id: int) -> str:
    return f"bottega:pg:active:{user_id}"


def worker_key(worker_id: str) -> str:
    return f"bottega:pg:worker:{worker_id}"


def decode_entry(fields: dict[Any, Any]) -> tuple[str, dict[str, Any]]:
    """(kind, data) of a raw XREAD entry (bytes or str keys)."""
    get = {(k.decode() if isinstance(k, bytes) else k): v for k, v in fields.items()}
    kind, data = get.get("kind", b""), get.get("data", b"{}")
    kind = kind.decode() if isinstance(kind, bytes) else kind
    return kind, json.loads(data)


# Releases the active slot only if it still names this request (a compare-and-delete).
RELEASE_ACTIVE = (
    "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end return 0"
)
