"""The doors to deletion (webapp/deletion/actions.py): the Delete pages and the admin's.

One page per deletable model, made by `delete_view`: GET shows the plan, POST carries it out;
the owner's own row or 404 (`access(..., owner_only=True)`: staff see others' versions, but
delete others' objects from the admin only). A refused POST (something started since the page
was shown) shows the page again, 409. `PlannedDeletionAdmin` makes the admin's Delete (one row
or the bulk action) go through the same plan: its refusals are listed as what protects the
rows, and nothing is deleted.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.contrib import admin, messages
from django.db.models import Model, QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods

from webapp.deletion.actions import Outcome, delete
from webapp.deletion.plans import plan_for
from webapp.jobs.models import ACTIVE, Job
from webapp.web.access import access
from webapp.web.sizes import format_bytes


def _message(outcome: Outcome) -> str:
    plan = outcome.plan
    files = f" and its files ({format_bytes(plan.bytes)})" if plan.files else ""
    return f"Deleted {plan.kind} “{plan.name}”{files}."


def delete_view(
    model: type[Model], done: Callable[[Any], str], back: Callable[[Any], str] | None = None
) -> Callable[[HttpRequest, int], HttpResponse]:
    """`done(obj)`: where to go once it is deleted; `back(obj)`: its page (get_absolute_url)."""

    @require_http_methods(["GET", "POST"])
    def view(request: HttpRequest, pk: int) -> HttpResponse:
        obj = access(request.user, model, pk, owner_only=True)
        status = 200
        if request.method == "POST":
            outcome = delete(obj)
            if outcome.deferred:
                messages.success(request, f"Cancelling {outcome.plan.kind} “{outcome.plan.name}”: "
                                          "it is deleted with its files once it has stopped.")  # fmt: skip
                return redirect(done(obj))
            if outcome.deleted:
                messages.success(request, _message(outcome))
                if outcome.files_left:
                    left = ", ".join(str(p) for p in outcome.files_left)
                    messages.error(request, f"These files could not be removed: {left}. "
                                            "An administrator can find why in the server log.")  # fmt: skip
                return redirect(done(obj))
            plan, status = outcome.plan, 409
        else:
            plan = plan_for(obj)
        page = back(obj) if back else obj.get_absolute_url()  # type: ignore[attr-defined]
        context = {"plan": plan, "back": page, "action": request.path}
        return render(request, "deletion/confirm.html", context, status=status)

    view.__name__ = f"delete_{model._meta.model_name}"
    return view


def to(name: str) -> Callable[[Any], str]:
    return lambda obj: reverse(name)


class PlannedDeletionAdmin(admin.ModelAdmin):
    """ModelAdmin whose deletions go through the plan: refused ones are shown as protected on
    the confirmation page (the admin then deletes nothing), the others through `delete()`."""

    def get_deleted_objects(self, objs: Any, request: HttpRequest) -> tuple:
        deleted, counts, perms, protected = super().get_deleted_objects(objs, request)
        refusals = [f"{obj}: {e.text}" for obj in objs for e in plan_for(obj).refusals]
        return deleted, counts, perms, [*protected, *refusals]

    def delete_model(self, request: HttpRequest, obj: Model) -> None:
        self._report(request, [delete(obj)])

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet) -> None:
        self._report(request, [delete(obj) for obj in queryset])

    def _report(self, request: HttpRequest, outcomes: list[Outcome]) -> None:
        """A row whose plan changed since the page was shown is kept, saying why."""
        for outcome in outcomes:
            if not outcome.deleted and not outcome.deferred:
                why = "; ".join(e.text for e in outcome.plan.refusals)
                self.message_user(request, f"“{outcome.plan.name}” was kept: {why}",
                                  messages.ERROR)  # fmt: skip


class KeepActiveJobsAdmin(PlannedDeletionAdmin):
    """For jobs: a queued or running one has no Delete in the admin (cancel it first, as on its
    page); the others are deleted through the plan."""

    def has_delete_permission(self, request: HttpRequest, obj: Job | None = None) -> bool:
        if obj is not None and obj.is_active:
            return False
        return super().has_delete_permission(request, obj)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet) -> None:
        kept = queryset.filter(status__in=ACTIVE).count()
        super().delete_queryset(request, queryset.exclude(status__in=ACTIVE))
        if kept:
            self.message_user(request, f"{kept} queued or running job(s) kept: cancel them first.",
                              level="warning")  # fmt: skip
