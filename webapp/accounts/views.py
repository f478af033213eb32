"""The sign-in page's answer to a throttled sign-in (django-axes calls `locked_out`)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib.auth.forms import AuthenticationForm
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from webapp.accounts.first_user import manage_command


def locked_out(
    request: HttpRequest, original_response: Any = None, credentials: dict | None = None
) -> HttpResponse:
    """The sign-in page again, 429, saying why and for how long; the password is not kept."""
    minutes = settings.SIGN_IN_LOCKOUT_MINUTES
    message = (
        f"Too many failed sign-ins for this username from your address: wait {minutes} "
        f"minutes, then try again (each try before then restarts the wait), or ask whoever "
        f"runs the server to clear it: {manage_command('axes_reset_username', 'NAME')}; for "
        f"the first user, {manage_command('reset_admin_password')} also prints a new password."
    )
    form = AuthenticationForm(request, initial={"username": request.POST.get("username", "")})
    context = {"form": form, "locked_out": message, "next": request.POST.get("next", "")}
    return render(request, "registration/login.html", context, status=429)
