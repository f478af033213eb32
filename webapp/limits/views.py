"""The Storage page: each of the user's objects with its size, and the total against the quota."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from webapp.limits import policy, storage


@require_GET
def storage_page(request: HttpRequest) -> HttpResponse:
    items = storage.items(request.user)
    used = sum(item.bytes for item in items)
    quota = policy.limits_for(request.user).storage_bytes
    context = {
        "items": items,
        "used_bytes": used,
        "quota_bytes": quota,
        "fraction": min(used / quota, 1.0) if quota else None,
        "over": quota is not None and used >= quota,
    }
    return render(request, "limits/storage.html", context)
