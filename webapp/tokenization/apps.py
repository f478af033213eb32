from django.apps import AppConfig


class TokenizationConfig(AppConfig):
    name = "webapp.tokenization"
    verbose_name = "Tokenizers"
