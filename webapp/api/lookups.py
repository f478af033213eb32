"""What an API request needs from the database and the disk, looked up in one synchronous call.

The views (`endpoints.py`) are async and hold no model instance: a lazy relation read on one
(`version.owner`) queries the database on the event loop, which Django refuses
(`SynchronousOnlyOperation`: the 500 an `OWNER/NAME` id gave). So each view makes one
`sync_to_async` call here, which authenticates the key, checks the body, resolves the model
and reads the files the answer needs (the version's sampling defaults, which fill in the
settings the request left out), and returns frozen plain values: the `Caller`, the request,
the `Target`. `tests/webapp/test_async_boundary.py` checks that no async module imports
models or `django.db` (docs/architecture.md, "OpenAI-compatible API").
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from webapp.api.errors import ApiError
from webapp.api.models import ApiKey
from webapp.api.names import ListedModel, list_models, model_name, resolve
from webapp.api.schema import parse_body
from webapp.registry.models import ModelVersion

R = TypeVar("R")


@dataclass(frozen=True)
class Caller:
    """The key's user, as the views need it, and the key's own rate (None: the server's)."""

    id: int
    username: str
    is_staff: bool
    requests_per_minute: int | None = None


@dataclass(frozen=True)
class Target:
    """The version a request names, with what its answer needs."""

    version_id: int
    name: str  # as answers name it: NAME:vN, or OWNER/NAME:vN for another user's


def models_for(header: str) -> tuple[Caller, list[ListedModel]]:
    """`/v1/models`: the caller and every id they may use."""
    key = _key(header)
    return _caller(key), list_models(key.owner)


def request_for(
    header: str, body: bytes, parse: Callable[[dict[str, Any]], R], chat: bool
) -> tuple[Caller, R, Target]:
    """A generation request: 401, then 400 (the body), then 404 (the model), in that order;
    for chat, 400 too when the version cannot chat."""
    key = _key(header)
    user = key.owner
    req = parse(parse_body(body))
    model_id: str = req.model  # type: ignore[attr-defined]
    version = resolve(user, model_id, chat)
    if version is None:
        raise unknown_model(model_id)
    name = f"{model_name(version, user)}:v{version.version}"
    problem = chat_template_problem(version) if chat else None
    if problem:
        raise ApiError(400, f"{name}: {problem}", param="model", code="no_chat_template")
    req = req.with_model_defaults(model_defaults(version))  # type: ignore[attr-defined]
    return _caller(key), req, Target(version.pk, name)


def unknown_model(model_id: str) -> ApiError:
    return ApiError(404, f"the model {model_id!r} does not exist or is not yours to use; "
                    "GET /v1/models lists those you may", param="model",
                    code="model_not_found")  # fmt: skip


def _key(header: str) -> ApiKey:
    """The active key (with its user) the `Authorization` header carries, else ApiError 401."""
    scheme, _, raw = header.partition(" ")
    if scheme.lower() != "bearer" or not raw.strip():
        raise ApiError(401, "missing API key: send the header 'Authorization: Bearer KEY'; make "
                       "a key on the API keys page", code="missing_api_key")  # fmt: skip
    key = ApiKey.authenticate(raw.strip())
    if key is None:
        raise ApiError(401, f"invalid API key ({raw.strip()[:11]}…): unknown or revoked",
                       code="invalid_api_key")  # fmt: skip
    return key


def _caller(key: ApiKey) -> Caller:
    user = key.owner
    return Caller(user.pk, user.get_username(), user.is_staff, key.requests_per_minute)


def chat_template_problem(version: ModelVersion) -> str | None:
    """Why a version cannot chat, or None. A chat version (`is_chat`: fine-tuned on
    conversations, or imported with its own chat template) carries the template it answers
    with (lmcore/chat_config.py); a base model gets no template imposed on it."""
    if not version.is_chat:
        return ("this model has no chat template: it was not fine-tuned on conversations nor "
                "imported with one. Use /v1/completions with a plain prompt, or fine-tune a "
                "chat version of it (Models page, Fine-tune for chat)")  # fmt: skip
    return None


def model_defaults(version: ModelVersion) -> dict[str, Any]:
    """The version's own sampling defaults (lmcore/chat_config.py), {} when unreadable."""
    from lmcore.chat_config import generation_defaults
    from lmcore.checkpoint_files import read_config
    from lmcore.errors import LmcoreError

    try:
        return generation_defaults(read_config(version.directory))
    except (LmcoreError, ValueError):
        return {}  # the worker reports a version whose files are gone
