"""Websocket routes (DESIGN §6). Each app adds its consumers here."""

from django.urls import path

from webapp.system.consumers import SystemStatusConsumer

websocket_urlpatterns = [
    path("ws/system/", SystemStatusConsumer.as_asgi()),
]
