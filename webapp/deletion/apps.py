from django.apps import AppConfig
from django.db.models.signals import post_delete
from django.utils.module_loading import autodiscover_modules


class DeletionConfig(AppConfig):
    name = "webapp.deletion"

    def ready(self) -> None:
        from webapp.deletion.actions import remove_files_after_commit
        from webapp.web.files import file_owners

        autodiscover_modules("deletion")  # each app's part of the plans, in its deletion.py
        for model in file_owners():  # every deleted row that owns files takes them along
            post_delete.connect(remove_files_after_commit, sender=model)
