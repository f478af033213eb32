"""`/ws/arena/<battle>/`: a battle's two answers, streamed without saying who answers.

client → server
    {"type": "follow", "last_id"}   start the answers if they have not started (or their
        stream expired before both ended: the same seed gives the same answers again), else
        stream them from after `last_id` ("0-0": from the start)
    {"type": "cancel"}              stop both answers
server → client (all but `battle` and errors carry `last_id`, the stream entry)
    {"type": "battle", "state": "waiting" | "answered" | "voted", "answers": null |
     [{"text", "reason"}, {"text", "reason"}]}   first, on connect
    {"type": "started"}   the answers (re)start from nothing: clear both columns
    {"type": "loading"} · {"type": "queued", "stream", "position"}
    {"type": "tokens", "stream", "text"} · {"type": "done", "stream", "reason", "text"}
    {"type": "answered"}   both answers ended and are kept: the vote is open
    {"type": "error", "message"}

An answer that ends in an error replays that error to a reloaded page until its stream
expires (PLAYGROUND_STREAM_TTL_S); then `follow` starts it again.

The answers run as the playground's side by side (one `generate_text` request for both
versions, same settings and seed; webapp/playground/inference.py: the same limits) under the
battle's own request id. Everything the playground socket would add that could tell a
version apart stays on the server until the vote: version ids, token ids and bytes,
probabilities, speed and token counts; a worker's error has the versions' names replaced by
"model A"/"model B". Only the battle's owner may connect (4404 otherwise).
"""

from __future__ import annotations

import asyncio
import logging
import re
from typing import Any

from channels.db import database_sync_to_async

from webapp.arena.actions import BattleState, battle_state, do_keep_answers, redact
from webapp.playground.inference import (
    GENERATE_TASK,
    Inference,
    NoWorker,
    QueueDown,
    Refused,
    pickup_deadline,
)
from webapp.playground.streams import decode_entry, stream_key
from webapp.web.sockets import JsonSocketConsumer

logger = logging.getLogger(__name__)
LAST_ID = re.compile(r"^\d{1,20}-\d{1,20}$")


class ArenaConsumer(JsonSocketConsumer):
    accepted_types = ("follow", "cancel")

    async def connect(self) -> None:
        self.tail: asyncio.Task | None = None
        self.inference = Inference(self.scope["user"].pk)
        await super().connect()

    async def disconnect(self, code: int) -> None:
        if getattr(self, "tail", None) is not None:
            self.tail.cancel()  # the answers go on; the page resumes them
        if getattr(self, "inference", None) is not None:
            await self.inference.close()
        await super().disconnect(code)

    async def authorize(self, user: Any, kwargs: dict[str, Any]) -> bool:
        self.public_id = kwargs["public_id"]
        self.battle: BattleState = await database_sync_to_async(battle_state)(user, self.public_id)
        return self.battle is not None

    async def snapshot(self) -> list[dict[str, Any]]:
        fresh = await database_sync_to_async(battle_state)(self.scope["user"], self.public_id)
        battle = self.battle = fresh or self.battle
        answers = [{"text": a["text"], "reason": a["reason"]} for a in battle.answers or []]
        return [{"type": "battle", "state": battle.state, "answers": answers or None}]

    # --- messages ----------------------------------------------------------------------------
    async def handle_follow(self, message: dict[str, Any]) -> None:
        last_id = message.get("last_id", "0-0")
        if not isinstance(last_id, str) or not LAST_ID.match(last_id):
            await self.error('last_id must be a stream entry id such as "1700000000000-0"')
            return
        for payload in await self.snapshot():
            if payload["state"] != "waiting":  # nothing to stream: the answers are kept
                await self.send_json(payload)
                return
        rid = self.battle.request_id
        if await self.inference.exists(rid):
            self._follow(last_id, None)
        elif await self._start(rid):
            self._follow("0-0", pickup_deadline())

    async def handle_cancel(self, message: dict[str, Any]) -> None:
        await self.inference.cancel(self.battle.request_id)  # each side's `done` follows

    async def _start(self, rid: str) -> bool:
        """Admit and send the battle's generation; False (said to the client) if refused."""
        try:
            await self.inference.admit(rid, generation=True)
        except Refused as exc:
            if await self.inference.exists(rid) or exc.extra.get("active_request_id") == rid:
                return True  # another tab of this battle started it just now: follow that
            await self.error(str(exc))
            return False
        try:
            kwargs = {"user_id": self.scope["user"].pk, **self.battle.request}
            await self.inference.enqueue(GENERATE_TASK, kwargs, rid, holds_slot=True)
        except QueueDown as exc:
            await self.error(str(exc))
            return False
        return True

    # --- the stream --------------------------------------------------------------------------
    def _follow(self, last_id: str, deadline: float | None) -> None:
        if self.tail is not None:
            self.tail.cancel()
        self.tail = asyncio.create_task(self._tail(last_id, deadline))

    async def _tail(self, last_id: str, deadline: float | None) -> None:
        battle, rid = self.battle, self.battle.request_id
        try:
            async for entry_id, kind, data in self.inference.entries(rid, last_id, deadline):
                payload = _payload(battle, kind, data)
                if payload is not None:
                    await self.send_json({**payload, "last_id": entry_id})
            answers = await _answers(self.inference, stream_key(battle.owner_id, rid))
            if answers is not None:
                await database_sync_to_async(do_keep_answers)(battle.pk, answers)
                await self.send_json({"type": "answered"})
        except asyncio.CancelledError:
            raise
        except NoWorker as exc:
            await self.error(str(exc))
        except Exception as exc:
            logger.exception("arena stream %s failed", rid)
            await self.error(f"lost the answers' stream ({type(exc).__name__}); reload to resume")


def _payload(battle: BattleState, kind: str, data: dict[str, Any]) -> dict[str, Any] | None:
    """What the page may know of one stream entry before the vote (None: nothing)."""
    if kind == "tokens":
        return {"type": "tokens", "stream": data["stream"],
                "text": "".join(t["text"] for t in data["tokens"])}  # fmt: skip
    if kind == "done":
        return {"type": "done", "stream": data["stream"], "reason": data["reason"],
                "text": data.get("text", "")}  # fmt: skip
    if kind == "queued":
        return {"type": "queued", "stream": data["stream"], "position": data.get("position")}
    if kind == "error":
        return {"type": "error", "message": redact(battle.names, data["message"])}
    if kind in ("start", "loading"):
        return {"type": {"start": "started"}.get(kind, kind)}
    return None


async def _answers(inference: Inference, key: str) -> list[dict[str, Any]] | None:
    """Both answers as the stream holds them (whoever followed which part of it), or None
    when the request ended in an error or a side has no `done`."""
    answers: list[dict[str, Any]] = [{"text": "", "reason": None, "stats": {}} for _ in range(2)]
    for _, fields in await inference.redis.xrange(key):
        kind, data = decode_entry(fields)
        if kind == "error":
            return None
        if kind == "tokens":
            answers[data["stream"]]["text"] += "".join(t["text"] for t in data["tokens"])
        elif kind == "done":
            side = answers[data["stream"]]
            side["text"] += data.get("text", "")
            side["reason"], side["stats"] = data["reason"], data.get("stats", {})
    return answers if all(a["reason"] for a in answers) else None
