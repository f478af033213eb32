"""Evaluation pages: runs (list + form), a run's page, cancel, and task files."""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from webapp.evaluation.actions import (
    do_cancel_evaluation,
    do_create_task_file,
    do_start_evaluation,
)
from webapp.evaluation.forms import EvaluationForm, TaskFileForm
from webapp.evaluation.models import EvalTask, EvaluationRun
from webapp.limits.policy import LimitExceeded
from webapp.web.access import access


@require_http_methods(["GET", "POST"])
def index(request: HttpRequest) -> HttpResponse:
    form = EvaluationForm(request.POST or None, user=request.user)
    if request.method == "POST" and form.is_valid():
        try:
            return redirect(do_start_evaluation(request.user, form.cleaned_data))
        except LimitExceeded as exc:  # another launch took the last slot meanwhile
            form.add_error(None, exc.message)
    runs = EvaluationRun.objects.for_user(request.user).prefetch_related("versions")
    return render(request, "evaluation/index.html", {"form": form, "runs": runs})


@require_GET
def detail(request: HttpRequest, pk: int) -> HttpResponse:
    run = access(request.user, EvaluationRun, pk)
    results = run.results.select_related("version")
    return render(request, "evaluation/detail.html",
                  {"run": run, "results": results, "versions": run.versions.all()})  # fmt: skip


@require_POST
def cancel(request: HttpRequest, pk: int) -> HttpResponse:
    run = access(request.user, EvaluationRun, pk)
    if not do_cancel_evaluation(run):
        messages.error(
            request, f"This run is {run.get_status_display().lower()}: nothing to cancel."
        )
    return redirect(run)


@require_http_methods(["GET", "POST"])
def tasks(request: HttpRequest) -> HttpResponse:
    form = TaskFileForm(request.POST or None, request.FILES or None)
    if request.method == "POST":
        try:
            if form.is_valid():
                data = form.cleaned_data
                task = do_create_task_file(request.user, data["config"], data["count"],
                                           form.items_file)  # fmt: skip
                messages.success(request, f"Task “{task.name}”: {task.items:,} items, checked.")
                return redirect("evaluation:tasks")
        finally:
            form.cleanup()
    files = EvalTask.objects.for_user(request.user)
    return render(request, "evaluation/tasks.html", {"form": form, "files": files},
                  status=400 if form.errors else 200)  # fmt: skip
