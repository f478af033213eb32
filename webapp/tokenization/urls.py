from django.urls import path

from webapp.deletion.views import delete_view, to
from webapp.tokenization import views
from webapp.tokenization.models import TokenizerRun

app_name = "tokenization"
urlpatterns = [
    path("", views.index, name="index"),
    path("<int:pk>/", views.detail, name="detail"),
    path("<int:pk>/cancel", views.cancel, name="cancel"),
    path("<int:pk>/delete/", delete_view(TokenizerRun, to("tokenization:index")), name="delete"),
    path("<int:pk>/vocab", views.vocab, name="vocab"),
    path("<int:pk>/encode", views.encode, name="encode"),
    path("<int:pk>/trace", views.trace, name="trace"),
]
