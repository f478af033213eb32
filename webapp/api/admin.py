"""Staff see every user's keys (never the secrets, which are not stored), can revoke them and
give one a higher rate (requests a minute) than the server's default."""

from django.contrib import admin

from webapp.api.models import ApiKey
from webapp.deletion_views import PlannedDeletionAdmin


@admin.register(ApiKey)
class ApiKeyAdmin(PlannedDeletionAdmin):
    list_display = ("name", "prefix", "owner", "requests_per_minute", "created_at", "last_used_at",
                    "revoked_at")  # fmt: skip
    list_filter = ("revoked_at",)
    search_fields = ("name", "prefix", "owner__username")
    readonly_fields = ("owner", "prefix", "hashed", "created_at", "last_used_at", "revoked_at")
    actions = ["revoke"]

    def has_add_permission(self, request) -> bool:
        return False  # keys are made on the keys page, where the secret is shown once

    @admin.action(description="Revoke the selected keys")
    def revoke(self, request, queryset) -> None:
        for key in queryset:
            key.revoke()
