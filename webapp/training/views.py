"""Training pages: runs list + launch form (with live estimates), a run's live page, actions."""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from webapp.jobs.models import JobStatus
from webapp.limits.policy import LimitExceeded
from webapp.registry.models import ModelVersion
from webapp.training import lora_fields
from webapp.training.actions import (
    do_cancel_training_run,
    do_resume_training_run,
    do_start_finetune_run,
    do_start_training_run,
)
from webapp.training.estimates import estimate_run
from webapp.training.forms import FineTuneForm, TrainingRunForm, finetune_problem
from webapp.training.models import PHASES, TrainingRun
from webapp.web.access import access


@require_http_methods(["GET", "POST"])
def index(request: HttpRequest) -> HttpResponse:
    form = TrainingRunForm(request.POST or None, user=request.user)
    if request.method == "POST" and form.is_valid():
        try:
            return redirect(do_start_training_run(request.user, form))
        except LimitExceeded as exc:  # another launch took the last slot meanwhile
            form.add_error(None, exc.message)
    runs = TrainingRun.objects.for_user(request.user).select_related("tokenizer")
    status = request.GET.get("status", "")
    if status in JobStatus.values:
        runs = runs.filter(status=status)
    context = {"form": form, "runs": runs.prefetch_related("corpora"), "status": status,
               "statuses": JobStatus.choices}  # fmt: skip
    return render(request, "training/index.html", context)


@require_http_methods(["GET", "POST"])
def finetune(request: HttpRequest, version_pk: int) -> HttpResponse:
    """Fine-tune a model version for chat on conversation datasets."""
    version = access(request.user, ModelVersion, version_pk)
    form = FineTuneForm(request.POST or None, user=request.user, version=version)
    if request.method == "POST" and form.is_valid():
        try:
            return redirect(do_start_finetune_run(request.user, version, form))
        except LimitExceeded as exc:
            form.add_error(None, exc.message)
    context = {"form": form, "version": version, "problem": finetune_problem(version),
               "estimate": lora_fields.estimate(form.model), **_trainable(form)}  # fmt: skip
    return render(request, "training/finetune.html", context, status=400 if form.errors else 200)


def _trainable(form: FineTuneForm) -> dict[str, str]:
    """The trainable parameters of the launched (or initial: full) choice, as the page shows
    them before its script updates them."""
    if form.model is None:
        return {}
    lora = form.configs[1].lora if form.configs else None
    n, total = lora_fields.trainable(form.model, lora), lora_fields.estimate(form.model)["params"]
    return {"trainable": f"{n:,}", "share": f"{100 * n / total:.2f} %"}


@require_POST
def estimate(request: HttpRequest) -> JsonResponse:
    """The form's pre-launch figures, or its errors per field, as the user edits it."""
    form = TrainingRunForm(request.POST, user=request.user)
    if not form.is_valid() or form.configs is None:
        errors = {field: [str(e) for e in errs] for field, errs in form.errors.items()}
        return JsonResponse({"ok": False, "errors": errors})
    figures = estimate_run(*form.configs, devices=form.cleaned_data["devices"])
    return JsonResponse({"ok": True, "estimate": dict(figures)})


@require_GET
def detail(request: HttpRequest, pk: int) -> HttpResponse:
    run = access(request.user, TrainingRun, pk)
    phase = run.last_phase() if run.status == JobStatus.RUNNING else None
    context = {"run": run, "versions": run.versions.order_by("-version"), "phase_words": PHASES,
               "phase_text": PHASES[phase.data.get("phase", "starting")] if phase else PHASES["starting"]}  # fmt: skip
    return render(request, "training/detail.html", context)


@require_POST
def cancel(request: HttpRequest, pk: int) -> HttpResponse:
    run = access(request.user, TrainingRun, pk)
    if not do_cancel_training_run(run):
        messages.error(
            request, f"This run is {run.get_status_display().lower()}: nothing to cancel."
        )
    return redirect(run)


@require_POST
def resume(request: HttpRequest, pk: int) -> HttpResponse:
    run = access(request.user, TrainingRun, pk)
    try:
        if not do_resume_training_run(run):
            messages.error(request, "Only a failed or cancelled run with a checkpoint can resume.")
    except LimitExceeded as exc:
        messages.error(request, f"Not resumed. {exc.message}")
    return redirect(run)
