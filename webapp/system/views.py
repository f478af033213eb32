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
    """200 when the database, Redis and every queue are up, else 503; queues from the beat's
    heartbeats (webapp/system/health.py), so a call costs milliseconds and enqueues nothing.

    Anonymous callers get up/down only; staff also get timings, heartbeat ages and worker
    names (the status page measures live round trips).
    """
    database = probes.probe_database()
    redis = probes.probe_redis()
    queues = probes.probe_queue_health() if redis["ok"] else []
    ok = database["ok"] and redis["ok"] and all(q["ok"] for q in queues)
    if request.user.is_staff:
        body = {"ok": ok, "database": database, "redis": redis, "queues": queues}
    else:
        body = {
            "ok": ok, "database": database["ok"], "redis": redis["ok"],
            "queues": {q["queue"]: q["ok"] for q in queues},
        }  # fmt: skip
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
