"""The status page and /healthz."""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth.decorators import login_not_required
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from webapp.system import probes


@login_not_required  # load balancers and `docker compose` health checks call it anonymously
@never_cache
@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    """Database, Redis and every queue's ping round trip; 200 when all are up, else 503."""
    database = probes.probe_database()
    redis = probes.probe_redis()
    queues = (
        probes.probe_queues()
        if redis["ok"]
        else [
            {
                "queue": q,
                "ok": False,
                "rtt_ms": None,
                "worker": None,
                "consumers": [],
                "error": "Redis is down",
            }
            for q in settings.TASK_QUEUES
        ]
    )
    ok = database["ok"] and redis["ok"] and all(q["ok"] for q in queues)
    body = {"ok": ok, "database": database, "redis": redis, "queues": queues}
    return JsonResponse(body, status=200 if ok else 503)


@require_GET
def status(request: HttpRequest) -> HttpResponse:
    context = {
        "database": probes.probe_database(),
        "redis": probes.probe_redis(),
        "queues": settings.TASK_QUEUES,
    }
    return render(request, "system/status.html", context)


@require_GET
def home(request: HttpRequest) -> HttpResponse:
    return render(request, "home.html")
