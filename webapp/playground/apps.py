from django.apps import AppConfig


class PlaygroundConfig(AppConfig):
    name = "webapp.playground"
    verbose_name = "Playground"
