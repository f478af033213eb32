from django.urls import path

from webapp.registry import views

app_name = "registry"
urlpatterns = [
    path("", views.index, name="index"),
    path("<int:pk>/", views.detail, name="detail"),
    path("<int:pk>/promote", views.promote, name="promote"),
    path("<int:pk>/archive", views.archive, name="archive"),
    path("<int:pk>/download", views.download, name="download"),
    path("<int:pk>/download-hf", views.download_hf, name="download_hf"),
]
