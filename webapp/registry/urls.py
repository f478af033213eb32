from django.urls import path

from webapp.deletion.views import delete_view, to
from webapp.registry import views
from webapp.registry.models import ModelVersion
from webapp.registry.uploads import MODEL_UPLOADS
from webapp.uploads.views import start_view, upload_view

app_name = "registry"
urlpatterns = [
    path("", views.index, name="index"),
    path("<int:pk>/", views.detail, name="detail"),
    path("<int:pk>/promote", views.promote, name="promote"),
    path("<int:pk>/archive", views.archive, name="archive"),
    path("<int:pk>/delete/", delete_view(ModelVersion, to("registry:index")), name="delete"),
    path("<int:pk>/download", views.download, name="download"),
    path("<int:pk>/download-hf", views.download_hf, name="download_hf"),
    path("<int:pk>/download-gguf", views.download_gguf, name="download_gguf"),
    path("<int:pk>/download-peft", views.download_peft, name="download_peft"),
    path("<int:pk>/merge", views.merge, name="merge"),
    path("uploads/", start_view(MODEL_UPLOADS), name="start_upload"),
    path("uploads/<int:pk>/", upload_view(MODEL_UPLOADS), name="upload"),
]
