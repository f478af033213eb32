from django.contrib import admin, messages

from webapp.deletion_views import PlannedDeletionAdmin
from webapp.registry.models import ModelVersion


@admin.register(ModelVersion)
class ModelVersionAdmin(PlannedDeletionAdmin):
    list_display = (
        "name",
        "version",
        "owner",
        "status",
        "val_bpb",
        "val_loss",
        "params",
        "step",
        "created_at",
    )
    list_filter = ("status", "name")
    search_fields = ("name", "owner__username")
    readonly_fields = ("run", "tokenizer", "params", "step", "val_loss", "val_bpb", "metrics")
    actions = ["promote", "archive"]

    @admin.action(description="Promote to production (the previous one becomes a candidate)")
    def promote(self, request, queryset):
        for version in queryset.order_by("version"):
            version.promote()
        self.message_user(request, f"Promoted {queryset.count()} version(s).", messages.SUCCESS)

    @admin.action(description="Archive")
    def archive(self, request, queryset):
        for version in queryset:
            version.archive()
        self.message_user(request, f"Archived {queryset.count()} version(s).", messages.SUCCESS)
