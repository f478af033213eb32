"""The project's own error pages (404, 403, 500, a failed CSRF check; 400 with DEBUG off,
naming the Host a request was refused for), DEBUG or not.

Django shows its debug pages when DEBUG is on: a 404 there lists every URL pattern, which is
not what a user following a stale link should see (and DEBUG is the development default). The
middleware answers unknown addresses and the views' Http404 / PermissionDenied / unexpected
errors with templates/404.html, 403.html and 500.html; requests from the pages' scripts
(`Accept: application/json` or a JSON body) get `{"error": ...}` instead, as every JSON
endpoint promises. A 500's traceback still goes to the log (django.request), once.

The database unreachable (a PostgreSQL restart, a failover) is no bug: a request that hits an
`OperationalError` or `InterfaceError` gets templates/503.html (rendered without the request,
so it needs no database: no user, no session) with `Retry-After`, and the log one line.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable

from django.core.exceptions import DisallowedHost, PermissionDenied
from django.db import InterfaceError, OperationalError
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.template.loader import render_to_string
from django.urls import Resolver404, resolve

logger = logging.getLogger("django.request")

MESSAGES = {
    403: "You are not allowed to do this.",
    404: "There is nothing here: the address is wrong, or what it pointed to was deleted or "
    "is not yours.",
    500: "Something went wrong on the server; the error is in its log. Try again, or go back.",
    503: "The database is not answering (it may be restarting); nothing you sent was lost. "
    "Try again in a few seconds.",
}
RETRY_AFTER_S = 5
CSRF_MESSAGE = (
    "This page's security token is missing or out of date (you signed in again, or the page "
    "is old): reload the page and try again."
)


def wants_json(request: HttpRequest) -> bool:
    accept = request.headers.get("Accept", "")
    return accept.startswith("application/json") or request.content_type == "application/json"


def is_outage(exc: BaseException | None) -> bool:
    """The database unreachable, not a query's own error (a constraint, bad SQL)."""
    return isinstance(exc, (OperationalError, InterfaceError))


def unavailable(request: HttpRequest, exc: BaseException) -> HttpResponse:
    logger.warning("503 database unavailable: %s %s (%s)", request.method, request.path,
                   str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__)  # fmt: skip
    if wants_json(request):
        response: HttpResponse = JsonResponse({"error": MESSAGES[503]}, status=503)
    else:
        html = render_to_string("503.html", {"message": MESSAGES[503]})
        response = HttpResponse(html, status=503)
    response["Retry-After"] = str(RETRY_AFTER_S)
    response._has_been_logged = True
    return response


def error_response(request: HttpRequest, status: int, message: str = "") -> HttpResponse:
    message = message or MESSAGES[status]
    if wants_json(request):
        return JsonResponse({"error": message}, status=status)
    return render(request, f"{status}.html", {"message": message}, status=status)


class ErrorPagesMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        try:
            resolve(request.path_info)
        except Resolver404:
            return error_response(request, 404)
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exc: Exception) -> HttpResponse:
        if isinstance(exc, Http404):
            return error_response(request, 404)
        if isinstance(exc, PermissionDenied):
            return error_response(request, 403)
        if is_outage(exc):
            return unavailable(request, exc)
        logger.error("Internal Server Error: %s", request.path, exc_info=exc,
                     extra={"status_code": 500, "request": request})  # fmt: skip
        response = error_response(request, 500)
        response._has_been_logged = True  # Django's own mark (django.utils.log.log_response)
        return response


def csrf_failure(request: HttpRequest, reason: str = "") -> HttpResponse:
    """CSRF_FAILURE_VIEW: say what to do (reload), in JSON for the pages' scripts."""
    return error_response(request, 403, CSRF_MESSAGE)


# For DEBUG off, where Django calls the handlers itself (errors outside views).
def bad_request(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    """A request Django refused before any view (a Host not in ALLOWED_HOSTS, a malformed
    body): what went wrong, rendered without the request, whose host cannot be read."""
    if isinstance(exception, DisallowedHost):
        host = request.META.get("HTTP_HOST", "")
        message = (f"This server does not answer to the address “{host}”. Use the address "
                   "its administrator gave you; an administrator who means to serve this one "
                   "adds it to ALLOWED_HOSTS (and its https:// origin to CSRF_TRUSTED_ORIGINS).")  # fmt: skip
    else:
        message = "The server could not read this request. Reload the page and try again."
    return HttpResponse(render_to_string("400.html", {"message": message}), status=400)


def page_not_found(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    return error_response(request, 404)


def permission_denied(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    return error_response(request, 403)


def server_error(request: HttpRequest) -> HttpResponse:
    """Also for errors in middleware (a session read with the database down)."""
    exc = sys.exc_info()[1]
    if is_outage(exc):
        return unavailable(request, exc)
    return error_response(request, 500)
