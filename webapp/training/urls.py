from django.urls import path

from webapp.deletion.views import delete_view, to
from webapp.training import views
from webapp.training.models import TrainingRun

app_name = "training"
urlpatterns = [
    path("", views.index, name="index"),
    path("estimate", views.estimate, name="estimate"),
    path("finetune/<int:version_pk>/", views.finetune, name="finetune"),
    path("<int:pk>/", views.detail, name="detail"),
    path("<int:pk>/cancel", views.cancel, name="cancel"),
    path("<int:pk>/resume", views.resume, name="resume"),
    path("<int:pk>/delete/", delete_view(TrainingRun, to("training:index")), name="delete"),
]
