"""The API keys page (make, name, revoke; a new key is shown once) and the API's docs page."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from webapp.api.lookups import chat_template_problem
from webapp.api.models import MAX_KEYS_PER_USER, ApiKey
from webapp.api.names import list_models, model_name
from webapp.playground.access import playable_versions
from webapp.web.access import access


class KeyForm(forms.Form):
    name = forms.CharField(max_length=100, help_text="What the key is for, e.g. 'notebook'.")


@require_http_methods(["GET", "POST"])
def keys(request: HttpRequest) -> HttpResponse:
    """GET lists the user's keys; POST makes one and shows its secret in this answer only
    (rendered, not redirected: the secret is never stored, not even in the session)."""
    form, secret = KeyForm(request.POST or None), None
    if request.method == "POST" and form.is_valid():
        if ApiKey.objects.for_user(request.user).active().count() >= MAX_KEYS_PER_USER:
            form.add_error(None, f"at most {MAX_KEYS_PER_USER} active keys: revoke one first")
        else:
            _, secret = ApiKey.issue(request.user, form.cleaned_data["name"])
            form = KeyForm()
    context = {"form": form, "secret": secret, "keys": ApiKey.objects.for_user(request.user),
               "base_url": _base_url(request)}  # fmt: skip
    return render(request, "api/keys.html", context, status=400 if form.errors else 200)


@require_POST
def revoke(request: HttpRequest, pk: int) -> HttpResponse:
    key = access(request.user, ApiKey, pk)
    if key.revoke():
        messages.success(request, f"Key {key} is revoked: programs using it now get 401.")
    return redirect("api:keys")


@require_GET
def docs(request: HttpRequest) -> HttpResponse:
    models = list_models(request.user)
    example = next((m.id for m in models if ":" not in m.id), "MODEL")
    context = {"base_url": _base_url(request), "model": example, "models": models,
               "chat_model": _chat_example(request.user),
               "has_key": ApiKey.objects.for_user(request.user).active().exists()}  # fmt: skip
    return render(request, "api/docs.html", context)


def _chat_example(user: Any) -> str | None:
    """The id of a version that chats, for the chat example (the model's bare name may be a
    base version, which answers 400); None when the user may use none."""
    candidates = playable_versions(user).select_related("owner").order_by("-is_chat", "-pk")
    for version in candidates[:20]:  # chat versions first: the rest answer 400 anyway
        if chat_template_problem(version) is None:
            return f"{model_name(version, user)}:v{version.version}"
    return None


def _base_url(request: HttpRequest) -> str:
    return request.build_absolute_uri("/v1")
