from django.urls import path

from webapp.registry import api, views

app_name = "registry"
urlpatterns = [
    path("", views.index, name="index"),
    path("<int:pk>/", views.detail, name="detail"),
    path("<int:pk>/promote", views.promote, name="promote"),
    path("<int:pk>/archive", views.archive, name="archive"),
    path("<int:pk>/download", views.download, name="download"),
    path("<int:pk>/download-hf", views.download_hf, name="download_hf"),
    path("uploads/", api.start_upload, name="start_upload"),
    path("uploads/<int:pk>/", api.upload, name="upload"),
]
