"""A cancel flag in Redis beside the row's `cancelling` status, cheap enough to read every step.

A training step can take milliseconds; asking the database each time would load it for no
reason, so the trainer reads this key (one Redis round trip) and the row stays the truth:
`request_cancel()` first moves the row to `cancelling`, then raises the flag.
"""

from __future__ import annotations

from typing import Any

import redis
from django.conf import settings

FLAG_TTL_S = 24 * 3600


def flag_key(job: Any) -> str:
    return f"bottega:cancel:{job._meta.label_lower}:{job.pk}"


def client() -> redis.Redis:
    return redis.Redis.from_url(settings.REDIS_URL, socket_timeout=2, socket_connect_timeout=2)


def raise_flag(job: Any) -> None:
    with client() as conn:
        conn.set(flag_key(job), "1", ex=FLAG_TTL_S)


def clear_flag(job: Any) -> None:
    with client() as conn:
        conn.delete(flag_key(job))
