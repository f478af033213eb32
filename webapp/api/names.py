"""Model ids as the API names them, over the versions a user may play with.

`NAME` is the user's own model `NAME` (its production version, else its latest) and `NAME:vN`
one version of it. A model of someone else's that the user may use (staff's production
versions; for staff, anything) is `OWNER/NAME` and `OWNER/NAME:vN`, since two users may
both have a model called `tiny`. Which versions a user may use is the playground's rule
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

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "object": "model",
            "created": self.created,
            "owned_by": self.owned_by,
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
            listed.append(ListedModel(name, int(default.created_at.timestamp()), owner))
        listed.append(ListedModel(f"{name}:v{version.version}", created, owner))
    return listed


def default_version(user: Any, owner_id: int, name: str) -> ModelVersion:
    versions = playable_versions(user).select_related("owner").filter(owner_id=owner_id, name=name)
    production = versions.filter(status=VersionStatus.PRODUCTION).first()
    return production or versions.order_by("-version").first()


def resolve(user: Any, model_id: str) -> ModelVersion | None:
    """The version `model_id` names for `user`, or None when there is none they may use."""
    match = MODEL_ID.match(model_id)
    if match is None:
        return None
    owner, name, number = match["owner"], match["name"], match["version"]
    versions = playable_versions(user).select_related("owner").filter(name=name)
    versions = versions.filter(owner__username=owner) if owner else versions.filter(owner=user)
    if number is not None:
        return versions.filter(version=int(number)).first()
    first = versions.first()
    return None if first is None else default_version(user, first.owner_id, name)
