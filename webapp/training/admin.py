from django.contrib import admin

from webapp.deletion_files import KeepActiveJobsAdmin
from webapp.deletion_views import PlannedDeletionAdmin
from webapp.training.models import TrainingRun


@admin.register(TrainingRun)
class TrainingRunAdmin(KeepActiveJobsAdmin, PlannedDeletionAdmin):
    list_display = ("name", "owner", "preset", "status", "best_val_bpb", "params", "created_at")
    list_filter = ("status", "preset")
    search_fields = ("name", "owner__username")
    readonly_fields = (
        "storage_key",
        "model_config",
        "train_config",
        "heartbeat_at",
        "started_at",
        "finished_at",
    )
