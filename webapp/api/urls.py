from django.urls import path

from webapp.api import views
from webapp.api.models import ApiKey
from webapp.deletion.views import delete_view, to

app_name = "api"
urlpatterns = [
    path("keys/", views.keys, name="keys"),
    path("keys/<int:pk>/revoke/", views.revoke, name="revoke"),
    path(
        "keys/<int:pk>/delete/",
        delete_view(ApiKey, to("api:keys"), back=to("api:keys")),
        name="delete_key",
    ),
    path("", views.docs, name="docs"),
]
