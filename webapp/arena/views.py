"""The arena's pages: start a battle, the battle (answers over /ws/arena/<battle>/, consumers.py),
the vote, your votes, the leaderboards, and (staff) a board's reset."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.admin.views.decorators import staff_member_required
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.template.loader import render_to_string
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from webapp.arena.actions import (
    Refused,
    do_reset_board,
    do_start_battle,
    do_vote,
    do_withdraw_vote,
    sentence,
)
from webapp.arena.forms import BattleForm, VoteForm
from webapp.arena.leaderboard import leaderboard_for
from webapp.arena.models import Battle, Board, Outcome, Vote
from webapp.web.access import access
from webapp.web.errors import wants_json


def _battle_for(user: Any, public_id: Any) -> Battle:
    """The user's battle (Battle.objects.for_user); 404 for anyone else's, staff included."""
    found = Battle.objects.for_user(user).select_related("board", "left__owner", "right__owner")
    try:
        return found.get(public_id=public_id)
    except Battle.DoesNotExist:
        raise Http404("No such battle.") from None


@require_http_methods(["GET", "POST"])
def index(request: HttpRequest) -> HttpResponse:
    form = BattleForm(request.POST or None, user=request.user,
                      initial={"board": request.GET.get("board")})  # fmt: skip
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        battle = do_start_battle(request.user, data["board"], form.pair, data["prompt"],
                                 form.params, form.picked)  # fmt: skip
        return redirect(battle)
    waiting = Battle.objects.for_user(request.user).filter(revealed_at__isnull=True)[:5]
    context = {"form": form, "boards": Board.objects.all(), "waiting": waiting}
    return render(request, "arena/index.html", context, status=400 if form.errors else 200)


def _sides(battle: Battle) -> list[dict[str, Any]]:
    """A and B for the templates; the versions only once the vote has revealed them."""
    answers = battle.answers or [{}, {}]
    return [{"label": label, "answer": answer,
             "version": version if battle.revealed_at else None}
            for label, answer, version in zip("AB", answers, battle.sides, strict=True)]  # fmt: skip


@require_GET
def battle(request: HttpRequest, public_id: Any) -> HttpResponse:
    battle = _battle_for(request.user, public_id)
    state = "voted" if battle.revealed_at else "answered" if battle.answered else "waiting"
    context = {"battle": battle, "vote": Vote.objects.filter(battle=battle).first(),
               "sides": _sides(battle), "state": state, "outcomes": Outcome.choices}  # fmt: skip
    return render(request, "arena/battle.html", context)


@require_POST
def vote(request: HttpRequest, public_id: Any) -> HttpResponse:
    battle = _battle_for(request.user, public_id)
    form = VoteForm(request.POST)
    try:
        if not form.is_valid():
            raise Refused("choose one: A is better, B is better, Tie or Both are bad")
        ballot = do_vote(battle, form.cleaned_data["outcome"])
    except Refused as exc:
        status = 400 if form.errors else 409
        if wants_json(request):
            return JsonResponse({"error": sentence(str(exc))}, status=status)
        messages.error(request, sentence(str(exc)))
        return redirect(battle)
    if wants_json(request):
        battle.refresh_from_db(fields=["revealed_at"])
        context = {"battle": battle, "vote": ballot, "sides": _sides(battle)}
        html = render_to_string("arena/_reveal.html", context, request)
        return JsonResponse({"outcome": ballot.outcome, "html": html}, status=201)
    return redirect(battle)


@require_GET
def votes(request: HttpRequest) -> HttpResponse:
    mine = Vote.objects.for_user(request.user).select_related(
        "battle__board", "battle__left__owner", "battle__right__owner"
    )
    page = Paginator(mine, 50).get_page(request.GET.get("page"))
    return render(request, "arena/votes.html", {"page": page})


@require_POST
def withdraw(request: HttpRequest, pk: int) -> HttpResponse:
    ballot = access(request.user, Vote, pk)
    do_withdraw_vote(ballot)
    messages.success(request, f"Your vote on “{_short(ballot.battle.prompt)}” is withdrawn.")
    return redirect("arena:votes")


@require_GET
def leaderboard(request: HttpRequest, slug: str | None = None) -> HttpResponse:
    boards = list(Board.objects.all())
    if slug is None:
        if not boards:
            return render(request, "arena/leaderboard.html", {"boards": boards, "board": None})
        return redirect(boards[0])
    board = get_object_or_404(Board, slug=slug)
    context = {"boards": boards, "board": board, "table": leaderboard_for(request.user, board)}
    return render(request, "arena/leaderboard.html", context)


@staff_member_required
@require_http_methods(["GET", "POST"])
def reset(request: HttpRequest, slug: str) -> HttpResponse:
    board = get_object_or_404(Board, slug=slug)
    if request.method == "POST":
        deleted = do_reset_board(board)
        messages.success(request, f"The {board.title} board is reset: {deleted} vote(s) deleted.")
        return redirect(board)
    count = Vote.objects.filter(battle__board=board).count()
    return render(request, "arena/reset.html", {"board": board, "count": count})


def _short(text: str, limit: int = 60) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
