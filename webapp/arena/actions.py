"""What the arena does: draw a pair and start a battle, keep its answers, vote, withdraw a
vote, reset a board. Views validate, these act (docs/architecture.md, "Arena")."""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from webapp.arena.models import Battle, Board, Outcome, Vote
from webapp.playground.access import playable_versions

ALREADY_VOTED = "this battle already has its vote: one vote per pair of answers"
_random = secrets.SystemRandom()  # who answers on which side must not be predictable


class Refused(Exception):
    """An action that cannot happen as asked; the message says why, to the user."""


def sentence(message: str) -> str:
    """A refusal as a sentence: "wait" → "Wait."."""
    return message[:1].upper() + message[1:] + "."


def arena_versions(user: Any, board: Board) -> Any:
    """The versions `user` may put on `board`: playable (webapp/playground/access.py) and of
    the board's kind."""
    return playable_versions(user).filter(is_chat=board.chat)


def draw_pair(user: Any, board: Board, picks: list[Any]) -> tuple[Any, Any]:
    """Two different versions for a battle, in random order (left, right): the picks, and at
    random among the user's arena versions for the sides not picked."""
    chosen = list(picks)
    if len(chosen) == 2 and chosen[0].pk == chosen[1].pk:
        raise Refused("pick two different versions, or leave one random")
    if len(chosen) < 2:
        pool = list(arena_versions(user, board).exclude(pk__in=[v.pk for v in chosen]))
        if len(pool) < 2 - len(chosen):
            raise Refused(
                f"the {board.title} board needs two {board.get_kind_display().lower()} versions "
                f"you may use, and you have {len(pool) + len(chosen)}"
            )
        chosen += _random.sample(pool, 2 - len(chosen))
    _random.shuffle(chosen)
    return chosen[0], chosen[1]


def do_start_battle(
    user: Any, board: Board, pair: tuple[Any, Any], prompt: str, params: dict[str, Any],
    picked: bool,
) -> Battle:  # fmt: skip
    """A new battle of `pair` (from `draw_pair`), with one seed for both sides; its answers
    start when its page's socket asks (consumers.py)."""
    params = {**params, "seed": params.get("seed", _random.randrange(2**31))}
    return Battle.objects.create(owner=user, board=board, left=pair[0], right=pair[1],
                                 picked=picked, prompt=prompt, params=params)  # fmt: skip


def generation_request(battle: Battle) -> dict[str, Any]:
    """The playground's generate task's arguments: both sides with the same settings and
    seed; the prompt as the user's chat message on a chat board, else as text to continue."""
    chat = [{"role": "user", "content": battle.prompt}] if battle.board.chat else None
    return {"request_id": battle.request_id, "version_ids": [battle.left_id, battle.right_id],
            "prompt": "" if chat else battle.prompt, "params": battle.params,
            "prefix_ids": [], "chat": chat}  # fmt: skip


Names = tuple[tuple[str, tuple[str, ...]], ...]  # per side: its label, how a worker names it


@dataclass(frozen=True)
class BattleState:
    """A battle as its socket needs it, in plain values from one synchronous lookup (async
    code holds no model instance: docs/architecture.md, "OpenAI-compatible API")."""

    pk: int
    owner_id: int
    request_id: str
    state: str  # "waiting", "answered" or "voted"
    answers: list[dict[str, Any]] | None
    request: dict[str, Any]  # the generate task's arguments (generation_request)
    names: Names


def battle_state(user: Any, public_id: Any) -> BattleState | None:
    """`user`'s battle `public_id`, or None when it is not theirs."""
    found = Battle.objects.for_user(user).filter(public_id=public_id)
    battle = found.select_related("board", "left", "right").first()
    if battle is None:
        return None
    state = "voted" if battle.revealed_at else "answered" if battle.answered else "waiting"
    names = tuple((label, (str(v), f"model version {v.pk}"))  # how the worker names one
                  for label, v in (("model A", battle.left), ("model B", battle.right)))  # fmt: skip
    return BattleState(battle.pk, battle.owner_id, battle.request_id, state, battle.answers,
                       generation_request(battle), names)  # fmt: skip


def redact(names: Names, message: str) -> str:
    """A worker's error without the versions' names or ids (a load error names its version).

    Example: "alpha v2: the model cannot be loaded (...)" → "model A: the model cannot ..."."""
    for label, ways in names:
        for said in ways:
            message = re.sub(rf"(?<![\w-]){re.escape(said)}(?![\w-])", label, message)
    return message


def do_keep_answers(battle_id: int, answers: list[dict[str, Any]]) -> None:
    """Both answers ended: keep them (the vote needs them; a reload shows them)."""
    Battle.objects.filter(pk=battle_id, answers__isnull=True).update(answers=answers)


def do_vote(battle: Battle, outcome: str) -> Vote:
    """The one vote on `battle`; it reveals the names. Refused before both answers ended, and
    after a vote (also a withdrawn one: the names have been seen)."""
    if outcome not in Outcome.values:
        raise Refused(f"the vote must be one of {', '.join(Outcome.values)}")
    with transaction.atomic():
        shown = Battle.objects.filter(pk=battle.pk, answers__isnull=False, revealed_at__isnull=True)
        if not shown.update(revealed_at=timezone.now()):
            battle.refresh_from_db(fields=["answers", "revealed_at"])
            if battle.revealed_at is not None:
                raise Refused(ALREADY_VOTED)
            raise Refused("wait until both answers have ended, then vote")
        try:
            with transaction.atomic():
                return Vote.objects.create(battle=battle, outcome=outcome)
        except IntegrityError:  # the unique constraint, should two requests get this far
            raise Refused(ALREADY_VOTED) from None


def do_withdraw_vote(vote: Vote) -> None:
    """Takes the vote off its board. The battle stays revealed, so it cannot be voted again."""
    vote.delete()


def do_reset_board(board: Board) -> int:
    """Deletes every vote on `board` (battles stay, revealed); the number deleted."""
    deleted, _ = Vote.objects.filter(battle__board=board).delete()
    return deleted
