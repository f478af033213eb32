from django.contrib import admin

from webapp.limits.models import UserLimits


@admin.register(UserLimits)
class UserLimitsAdmin(admin.ModelAdmin):
    list_display = ("user", "jobs", "params", "minutes", "devices", "storage_bytes")
    search_fields = ("user__username",)
    raw_id_fields = ("user",)
