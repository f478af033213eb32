"""The health answers (`/livez`, `/readyz`, `/healthz`) whatever the Host header says.

Probes call by address: `docker compose`'s health check asks `http://127.0.0.1:8000/livez`,
a load balancer the instance's IP. Once `ALLOWED_HOSTS` names the operator's domain, Django
refuses those Hosts (`request.get_host()` raises DisallowedHost: a 400), and the instance
reads unhealthy. This middleware, first in the list, lifts only the Host check, only on
those exact paths: everything else about them stays (the views' own answers, staff details
from the session). ALLOWED_HOSTS guards against links and cache keys built from a forged
Host; these JSON answers build neither.
"""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse

HEALTH_PATHS = frozenset({"/livez", "/readyz", "/healthz"})


def health_answers_any_host(
    get_response: Callable[[HttpRequest], HttpResponse],
) -> Callable[[HttpRequest], HttpResponse]:
    def middleware(request: HttpRequest) -> HttpResponse:
        if request.path_info in HEALTH_PATHS:
            request.get_host = request._get_raw_host  # type: ignore[method-assign]
        return get_response(request)

    return middleware
