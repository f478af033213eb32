"""Staff see every user's corpora here (the pages show each user only their own)."""

from django.contrib import admin

from webapp.corpora.actions import do_delete_corpus
from webapp.corpora.models import Corpus


@admin.register(Corpus)
class CorpusAdmin(admin.ModelAdmin):
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

    def delete_model(self, request, obj: Corpus) -> None:
        do_delete_corpus(obj)  # the files go with the row

    def delete_queryset(self, request, queryset) -> None:
        for corpus in queryset:
            do_delete_corpus(corpus)
