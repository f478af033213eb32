"""Model ids as the API names them, over the versions a user may play with.

`NAME` is the user's own model `NAME` and `NAME:vN` one version of it. A bare `NAME` is the
version of the kind the endpoint wants (docs/architecture.md, "Sharing"): for chat, the
name's production chat version, else its latest chat version; for completions, its
production base version, else its production chat version, else its latest. A model of
someone else's that the user may use (staff's production versions, base and chat; for staff,
anything) is `OWNER/NAME` and `OWNER/NAME:vN`, since two users may both have a model called
`tiny`. `/v1/models` says of each id whether it chats (`"chat"`). Which versions a user may use is the playground's rule
(`webapp/playground/access.py`), so a key grants exactly what its user has there.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from webapp.playground.access import playable_versions
from webapp.registry.models import ModelVersion, VersionStatus

MODEL_ID = re.compile(
    r"^(?:(?P<owner>[^/:]{1,150})/)?(?P<name>[^/:]{1,100})(?::v(?P<version>\d{1,9}))?$"
)


@dataclass(frozen=True)
class ListedModel:
    id: str
    created: int
    owned_by: str
    chat: bool  # /v1/chat/completions answers with it (a chat version, its own template)

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "object": "model",
            "created": self.created,
            "owned_by": self.owned_by,
            "chat": self.chat,
        }


def model_name(version: ModelVersion, user: Any) -> str:
    """`NAME` for the user's own model, `OWNER/NAME` for another's."""
    if version.owner_id == user.pk:
        return version.name
    return f"{version.owner.get_username()}/{version.name}"


def list_models(user: Any) -> list[ListedModel]:
    """Each model once under its bare name, then each of its versions."""
    versions = (
        playable_versions(user).select_related("owner").order_by("owner_id", "name", "-version")
    )
    listed: list[ListedModel] = []
    seen: set[str] = set()
    for version in versions:
        name = model_name(version, user)
        created, owner = int(version.created_at.timestamp()), version.owner.get_username()
        if name not in seen:
            seen.add(name)
            default = default_version(user, version.owner_id, version.name)
            chats = default_version(user, version.owner_id, version.name, chat=True).is_chat
            listed.append(ListedModel(name, int(default.created_at.timestamp()), owner, chats))
        listed.append(ListedModel(f"{name}:v{version.version}", created, owner, version.is_chat))
    return listed


def default_version(user: Any, owner_id: int, name: str, chat: bool = False) -> ModelVersion | None:
    """The version a bare name means (module docstring): for chat, a chat version if the
    name has one; otherwise production base, production chat, then the latest."""
    versions = playable_versions(user).select_related("owner").filter(owner_id=owner_id, name=name)
    if chat and versions.filter(is_chat=True).exists():
        versions = versions.filter(is_chat=True)
    production = versions.filter(status=VersionStatus.PRODUCTION).order_by("is_chat").first()
    return production or versions.order_by("-version").first()


def resolve(user: Any, model_id: str, chat: bool = False) -> ModelVersion | None:
    """The version `model_id` names for `user` (a bare name: for `chat`, its chat version),
    or None when there is none they may use."""
    match = MODEL_ID.match(model_id)
    if match is None:
        return None
    owner, name, number = match["owner"], match["name"], match["version"]
    versions = playable_versions(user).select_related("owner").filter(name=name)
    versions = versions.filter(owner__username=owner) if owner else versions.filter(owner=user)
    if number is not None:
        return versions.filter(version=int(number)).first()
    first = versions.first()
    return None if first is None else default_version(user, first.owner_id, name, chat)
