from django.urls import path

from webapp.api import views

app_name = "api"
urlpatterns = [
    path("keys/", views.keys, name="keys"),
    path("keys/<int:pk>/revoke/", views.revoke, name="revoke"),
    path("", views.docs, name="docs"),
]
