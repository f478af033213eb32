"""A saved conversation's part of deletion plans (webapp/deletion): its own, and what becomes of
conversations when their version is deleted (they keep their messages and name no model)."""

from __future__ import annotations

from collections.abc import Iterator

from django.db.models import QuerySet

from webapp.deletion.plans import Effect, Part, deletable, dependants
from webapp.playground.models import Conversation
from webapp.registry.models import ModelVersion


@deletable(Conversation)
class ConversationPart(Part[Conversation]):
    def kind(self, conversation: Conversation) -> str:
        return "conversation"

    def effects(self, conversation: Conversation) -> Iterator[Effect]:
        yield Effect(f"its {len(conversation.messages)} messages are deleted")


@dependants(Conversation.model_version)  # SET_NULL
def _with_a_version(version: ModelVersion, chats: QuerySet[Conversation]) -> Iterator[Effect]:
    """Named when they are the version's owner's; other users' are counted."""
    for conversation in chats.filter(owner_id=version.owner_id):
        yield Effect(f"conversation “{conversation.title}” keeps its messages and names no model")
    if others := chats.exclude(owner_id=version.owner_id).count():
        yield Effect(
            f"{others} conversation(s) of other users keep their messages and name no model"
        )
