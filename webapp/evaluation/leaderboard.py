"""The leaderboard: versions × tasks, each cell the latest result of that version on that
task with its standard error; filtered to the results the user may see (a version they may
use, a task whose source they may see: `EvalResult.objects.for_user`), sortable by any column,
exported as CSV or JSON. Also the per-item drill-down of one result, and a version's figures
against its parent's."""

from __future__ import annotations

import csv
import io
import json
from itertools import islice
from typing import Any

from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from webapp.evaluation.models import EvalResult

ITEMS_PER_PAGE = 50
LOWER_IS_BETTER = ("bpb", "bits_per_byte", "byte_perplexity", "word_perplexity", "perplexity",
                   "loss")  # fmt: skip


def latest_results(user: Any, version_ids: list[int] | None = None) -> list[EvalResult]:
    """The newest result of each (version, task) among the results `user` may see."""
    rows = EvalResult.objects.for_user(user).select_related("version__owner")
    if version_ids is not None:
        rows = rows.filter(version_id__in=version_ids)
    newest: dict[tuple[int, str], EvalResult] = {}
    for result in rows.order_by("created_at", "pk"):
        newest[(result.version_id, result.task_key)] = result
    return list(newest.values())


def table(user: Any, sort: str = "") -> dict[str, Any]:
    """{"tasks": [(key, label, metric)], "rows": [{"version", "cells": {key: cell}}]}."""
    results = latest_results(user)
    tasks: dict[str, tuple[str, str]] = {}
    rows: dict[int, dict[str, Any]] = {}
    for r in results:
        headline = r.headline
        if headline is None:
            continue
        metric, figure = headline
        tasks.setdefault(r.task_key, (r.task_label, metric))
        row = rows.setdefault(r.version_id, {"version": r.version, "cells": {}})
        row["cells"][r.task_key] = {"metric": metric, "value": figure["value"],
                                    "stderr": figure.get("stderr"), "n": r.n, "result": r}  # fmt: skip
    ordered = sorted(rows.values(), key=lambda row: str(row["version"]))
    if sort in tasks:
        better_low = tasks[sort][1] in LOWER_IS_BETTER
        present = [r for r in ordered if sort in r["cells"]]
        present.sort(key=lambda r: r["cells"][sort]["value"], reverse=not better_low)
        ordered = present + [r for r in ordered if sort not in r["cells"]]
    labels = told_apart({k: label for k, (label, _) in tasks.items()})
    columns = [(k, labels[k], metric) for k, (_, metric) in sorted(tasks.items(),
                                                                   key=lambda t: labels[t[0]])]  # fmt: skip
    return {"tasks": columns, "rows": ordered, "sort": sort}


def told_apart(labels: dict[str, str]) -> dict[str, str]:
    """Each task key's column label, with what tells it apart where two tasks share one: a
    cloze test of one corpus with another seed or size (`cloze:<corpus>:s<seed>:n<items>`),
    or two users' corpora or task files of one name (the key)."""
    count: dict[str, int] = {}
    for label in labels.values():
        count[label] = count.get(label, 0) + 1
    out = {}
    for key, label in labels.items():
        if count[label] == 1:
            out[key] = label
        elif key.startswith("cloze:") and key.count(":") == 3:
            _, corpus, seed, items = key.split(":")
            out[key] = f"{label} (#{corpus}, seed {seed[1:]}, {items[1:]} items)"
        else:
            out[key] = f"{label} ({key})"
    return out


@require_GET
def board(request: HttpRequest) -> HttpResponse:
    return render(
        request, "evaluation/leaderboard.html", table(request.user, request.GET.get("sort", ""))
    )


@require_GET
def export(request: HttpRequest, fmt: str) -> HttpResponse:
    records = [
        {"version": str(r.version), "version_id": r.version_id, "owner": r.version.owner.username,
         "task": r.task_key, "label": r.task_label, "metric": name, "value": figure["value"],
         "stderr": figure.get("stderr"), "n": r.n, "run": r.run_id}
        for r in latest_results(request.user) for name, figure in r.metrics.items()
    ]  # fmt: skip
    if fmt == "json":
        response = JsonResponse({"results": records})
    else:
        out = io.StringIO()
        fields = ["version", "version_id", "owner", "task", "label", "metric", "value", "stderr",
                  "n", "run"]  # fmt: skip
        writer = csv.DictWriter(out, fieldnames=fields)
        writer.writeheader()
        writer.writerows(records)
        response = HttpResponse(out.getvalue(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="leaderboard.{fmt}"'
    return response


@require_GET
def items(request: HttpRequest, pk: int) -> HttpResponse:
    """One result's items, a page at a time: context, choices and their log-likelihoods, the
    pick and the gold; for generation the output and the reference."""
    result = _visible_result(request.user, pk)
    try:
        page = max(1, int(request.GET.get("page", "1")))
    except ValueError:
        page = 1
    start = (page - 1) * ITEMS_PER_PAGE
    rows = []
    if result.output_type != "bpb" and result.samples_path.exists():
        with open(result.samples_path, encoding="utf-8") as lines:
            rows = [json.loads(line) for line in islice(lines, start, start + ITEMS_PER_PAGE)]
    for row in rows:
        if "choices" in row:
            row["rows"] = [{"text": c, "ll": ll, "pick": i == row["pick"], "gold": i == row["gold"]}
                           for i, (c, ll) in enumerate(zip(row["choices"], row["loglikelihoods"], strict=False))]  # fmt: skip
    return render(request, "evaluation/items.html", {
        "result": result, "rows": rows, "page": page, "start": start,
        "more": result.output_type != "bpb" and start + ITEMS_PER_PAGE < result.n,
    })  # fmt: skip


def _visible_result(user: Any, pk: int) -> EvalResult:
    visible = EvalResult.objects.for_user(user).select_related("version", "run")
    result = visible.filter(pk=pk).first()
    if result is None:
        raise Http404("No such result.")
    return result


def against_parent(user: Any, version: Any) -> list[dict[str, Any]]:
    """A version's headline figures beside its parent's on the same tasks (did the fine-tune
    help or hurt?); the parent's column is empty where it was not evaluated."""
    ids = [version.pk] + ([version.parent_id] if version.parent_id else [])
    results = latest_results(user, ids)
    mine = {r.task_key: r for r in results if r.version_id == version.pk}
    parent = {r.task_key: r for r in results if r.version_id != version.pk}
    rows = []
    for key, r in sorted(mine.items(), key=lambda kv: kv[1].task_label):
        metric, figure = r.headline or ("", {})
        theirs = parent.get(key)
        other = theirs.metrics.get(metric) if theirs else None
        delta = figure["value"] - other["value"] if other else None
        better = None if delta is None else (delta < 0 if metric in LOWER_IS_BETTER else delta > 0)
        rows.append({"label": r.task_label, "metric": metric, "mine": figure, "parent": other,
                     "delta": delta, "better": better, "result": r})  # fmt: skip
    return rows
