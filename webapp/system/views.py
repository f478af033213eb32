"""The status page, and the health answers: `/livez` (liveness) and `/readyz` = `/healthz`
(readiness); which to probe for what: docs/architecture.md, "Decisions"."""

from __future__ import annotations

import logging

from django.conf import settings
from django.contrib.auth.decorators import login_not_required
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from webapp.system import probes

logger = logging.getLogger(__name__)


@login_not_required  # orchestrators and load balancers call it anonymously
@never_cache
@require_GET
def livez(request: HttpRequest) -> JsonResponse:
    """Liveness: 200 whenever this process serves requests. It checks no dependency (no
    database, no Redis, no session): a shared Redis that stalls must not take every web
    instance out at once, and restarting this process would not mend it."""
    return JsonResponse({"ok": True})


@login_not_required  # load balancers and `docker compose` health checks call it anonymously
@never_cache
@require_GET
def readyz(request: HttpRequest) -> JsonResponse:
    """Readiness: 200 when the database, Redis and every queue are up, else 503; queues from
    the beat's heartbeats (webapp/system/health.py), so a call costs milliseconds and enqueues
    nothing. A 503 is logged once, saying what is down.

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
    response = JsonResponse(body, status=200 if ok else 503)
    if not ok:
        down = [f"database ({database['error']})"] * (not database["ok"])
        down += [f"redis ({redis['error']})"] * (not redis["ok"])
        down += [f"queue {q['queue']}" for q in queues if not q["ok"]]
        logger.warning("503 %s: not ready: %s down", request.path, ", ".join(down))
        response._has_been_logged = True  # type: ignore[attr-defined]  (Django's own mark)
    return response


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
