from django.apps import AppConfig


class EvaluationConfig(AppConfig):
    name = "webapp.evaluation"
    default_auto_field = "django.db.models.BigAutoField"
