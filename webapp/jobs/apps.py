from django.apps import AppConfig


class JobsConfig(AppConfig):
    name = "webapp.jobs"

    def ready(self) -> None:
        from webapp import deletion

        deletion.connect_signals()  # every deleted row that owns files takes them along
