"""The anatomy page's task on `gpu_infer`: one recorded forward pass over a prompt
(lmcore/anatomy.py), answered on the request's stream as the playground's score task answers
(workers/tokenstream.py; the web side reads it with `Inference.ask`).

The task writes `start` (with the worker's id, so the web side notices a worker that dies),
then one `anatomy` entry, `{"json": TEXT}`, or an `error` ("invalid": lmcore refused the
request). The object goes as JSON text, as the page receives it: the view passes it on
without parsing and re-encoding ~400 KB on its event loop (tens of milliseconds of CPU for a
256-token first view; reading one string takes about one). A request whose cancel flag is
set (no worker took it in time, or the view gave up waiting) is skipped. The model comes from
the playground's cache (`load_model`), so a version someone just played with is already
loaded; the forward keeps no state, so it may run beside the playground's generations.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from celery import shared_task

from lmcore.errors import LmcoreError
from workers.liveness import worker_id
from workers.playground import load_model
from workers.tokenstream import Reply, connection

logger = logging.getLogger(__name__)


@shared_task(name="workers.anatomy.inspect_text")  # routed to gpu_infer (settings)
def inspect_text(
    user_id: int, request_id: str, version_id: int, text: str, position: int | None = None,
    focus_only: bool = False,
) -> None:  # fmt: skip
    reply = Reply(user_id, request_id)
    if connection().exists(reply.cancel_key):
        return
    reply.add("start", {"streams": 1, "worker": worker_id()})
    reply.flush()
    try:
        result = _compute(version_id, text, position, focus_only)
        reply.finish("anatomy", {"json": json.dumps(result, ensure_ascii=False, allow_nan=False)})
    except LmcoreError as exc:
        reply.fail(str(exc), "invalid")
    except Exception as exc:
        logger.exception("anatomy request %s failed", request_id)
        reply.fail(f"internal error ({type(exc).__name__}); see the worker log", "internal")
    reply.flush()


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
