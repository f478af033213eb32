from django.apps import AppConfig


class TrainingConfig(AppConfig):
    name = "webapp.training"
    verbose_name = "Training"
