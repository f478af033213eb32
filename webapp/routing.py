"""Websocket routes (docs/architecture.md, "Websockets"). Each app adds its consumers here."""

from django.urls import path

from webapp.arena.consumers import ArenaConsumer
from webapp.corpora.consumers import CorpusConsumer
from webapp.evaluation.consumers import EvaluationRunConsumer
from webapp.playground.consumers import PlaygroundConsumer
from webapp.system.consumers import SystemStatusConsumer
from webapp.tokenization.consumers import TokenizerRunConsumer
from webapp.training.consumers import TrainingRunConsumer

websocket_urlpatterns = [
    path("ws/system/", SystemStatusConsumer.as_asgi()),
    path("ws/corpora/", CorpusConsumer.as_asgi()),
    path("ws/corpora/<int:pk>/", CorpusConsumer.as_asgi()),
    path("ws/tokenizers/<int:pk>/", TokenizerRunConsumer.as_asgi()),
    path("ws/runs/<int:pk>/", TrainingRunConsumer.as_asgi()),
    path("ws/playground/", PlaygroundConsumer.as_asgi()),
    path("ws/evaluations/<int:pk>/", EvaluationRunConsumer.as_asgi()),
    path("ws/arena/<uuid:public_id>/", ArenaConsumer.as_asgi()),
]
