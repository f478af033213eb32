"""Staff see every user's corpora here (the pages show each user only their own)."""

from django.contrib import admin

from webapp.corpora.models import Corpus
from webapp.deletion_views import PlannedDeletionAdmin


@admin.register(Corpus)
class CorpusAdmin(PlannedDeletionAdmin):
    list_display = ("name", "owner", "status", "size_bytes", "created_at")
    list_filter = ("status",)
    search_fields = ("name", "filename", "owner__username", "sha256")
    readonly_fields = (
        "owner", "filename", "status", "error", "notice", "size_bytes", "received_bytes",
        "sha256", "stats", "progress", "duplicate_of", "storage_key", "fingerprint",
        "heartbeat_at", "created_at", "updated_at",
    )  # fmt: skip

    def has_add_permission(self, request) -> bool:
        return False  # corpora arrive by upload or `manage.py import_corpus`
