from django.apps import AppConfig


class JobsConfig(AppConfig):
    name = "webapp.jobs"

    def ready(self) -> None:
        from webapp import deletion_files

        deletion_files.connect_signals()  # every deleted row that owns files takes them along
