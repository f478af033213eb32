from django.urls import path

from webapp.deletion_views import delete_view, to
from webapp.playground import conversations, views
from webapp.playground.models import Conversation

app_name = "playground"
urlpatterns = [
    path("", views.index, name="index"),
    path("conversations/", conversations.conversations, name="conversations"),
    path("conversations/<int:pk>/", conversations.conversation, name="conversation"),
    path(
        "conversations/<int:pk>/delete/",
        delete_view(Conversation, to("playground:index"), back=to("playground:index")),
        name="delete_conversation",
    ),
]
