"""Staff see every user's saved conversations here (the page shows each user only their own)."""

from django.contrib import admin

from webapp.deletion_views import PlannedDeletionAdmin
from webapp.playground.models import Conversation


@admin.register(Conversation)
class ConversationAdmin(PlannedDeletionAdmin):
    list_display = ("title", "owner", "mode", "model_version", "updated_at")
    list_filter = ("mode",)
    search_fields = ("title", "owner__username")
    readonly_fields = ("owner", "mode", "model_version", "created_at", "updated_at")

    def has_add_permission(self, request) -> bool:
        return False  # conversations are saved from the playground page
