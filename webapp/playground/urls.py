from django.urls import path

from webapp.playground import api, views

app_name = "playground"
urlpatterns = [
    path("", views.index, name="index"),
    path("conversations/", api.conversations, name="conversations"),
    path("conversations/<int:pk>/", api.conversation, name="conversation"),
]
