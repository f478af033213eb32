from django.urls import path

from webapp.deletion.views import delete_view, to
from webapp.playground import api, views
from webapp.playground.models import Conversation

app_name = "playground"
urlpatterns = [
    path("", views.index, name="index"),
    path("conversations/", api.conversations, name="conversations"),
    path("conversations/<int:pk>/", api.conversation, name="conversation"),
    path(
        "conversations/<int:pk>/delete/",
        delete_view(Conversation, to("playground:index"), back=to("playground:index")),
        name="delete_conversation",
    ),
]
