from django.urls import path

from webapp.api import endpoints

app_name = "v1"
urlpatterns = [
    path("models", endpoints.models, name="models"),
    path("models/<path:model_id>", endpoints.model, name="model"),
    path("completions", endpoints.completions, name="completions"),
    path("chat/completions", endpoints.chat_completions, name="chat-completions"),
]
