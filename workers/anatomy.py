"""The anatomy page's task on `gpu_infer`: one recorded forward pass over a prompt
(lmcore/anatomy.py), its JSON handed back on a short Redis list that the web view waits on.

The view names the list (`reply_to`). The task pushes `start` when it takes the request, then
one `result <json>` or `error <message>`; the list expires after REPLY_TTL_S. A request whose
`<reply_to>:cancel` is set (the view stopped waiting) is skipped. The model comes from the
playground's cache (`load_model`), so a version someone just played with is already loaded;
the forward keeps no state, so it may run beside the playground's generations.
"""

from __future__ import annotations

import json
import logging
from typing import Any

import redis
from celery import shared_task
from django.conf import settings

from lmcore.errors import LmcoreError
from workers.playground import load_model

logger = logging.getLogger(__name__)
REPLY_TTL_S = 60


@shared_task(name="workers.anatomy.inspect_text")  # routed to gpu_infer (settings)
def inspect_text(
    reply_to: str, version_id: int, text: str, position: int | None = None,
    focus_only: bool = False,
) -> None:  # fmt: skip
    conn = redis.Redis.from_url(settings.REDIS_URL, socket_timeout=5, socket_connect_timeout=2)
    try:
        if conn.exists(f"{reply_to}:cancel"):
            return
        _reply(conn, reply_to, "start")
        try:
            body = "result " + json.dumps(_compute(version_id, text, position, focus_only),
                                          ensure_ascii=False, allow_nan=False)  # fmt: skip
        except LmcoreError as exc:
            body = f"error {exc}"
        except Exception as exc:
            logger.exception("anatomy request %s failed", reply_to)
            body = f"error internal error ({type(exc).__name__}); see the worker log"
        _reply(conn, reply_to, body)
    finally:
        conn.close()


def _compute(version_id: int, text: str, position: int | None, focus_only: bool) -> Any:
    from lmcore.anatomy import anatomy_of_text, focus_of_text

    loaded = load_model(version_id)
    if focus_only:
        if position is None:
            raise LmcoreError("a focus request needs a position")
        return focus_of_text(loaded.model, loaded.tokenizer, text, position, bos_id=loaded.bos_id,
                             bytes_table=loaded.bytes_table)  # fmt: skip
    return anatomy_of_text(loaded.model, loaded.tokenizer, text, position=position,
                           bos_id=loaded.bos_id, bytes_table=loaded.bytes_table)  # fmt: skip


def _reply(conn: redis.Redis, key: str, body: str) -> None:
    conn.pipeline(transaction=False).rpush(key, body).expire(key, REPLY_TTL_S).execute()
