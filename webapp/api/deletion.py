"""An API key's part of its deletion plan (webapp/deletion): nothing depends on a key, but
whatever uses it stops working."""

from __future__ import annotations

from collections.abc import Iterator

from webapp.api.models import ApiKey
from webapp.deletion.plans import Effect, Part, deletable


@deletable(ApiKey)
class ApiKeyPart(Part[ApiKey]):
    def kind(self, key: ApiKey) -> str:
        return "API key"

    def effects(self, key: ApiKey) -> Iterator[Effect]:
        if not key.revoked:
            yield Effect("programs using this key get 401 from now on")
