from django.contrib import admin

from webapp.deletion_files import KeepActiveJobsAdmin
from webapp.deletion_views import PlannedDeletionAdmin
from webapp.tokenization.models import TokenizerRun


@admin.register(TokenizerRun)
class TokenizerRunAdmin(KeepActiveJobsAdmin, PlannedDeletionAdmin):
    list_display = ("name", "owner", "vocab_size", "status", "created_at", "finished_at")
    list_filter = ("status",)
    search_fields = ("name", "owner__username")
    readonly_fields = ("storage_key", "result", "heartbeat_at", "started_at", "finished_at")
