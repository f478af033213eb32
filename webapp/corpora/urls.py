from django.urls import path

from webapp.corpora import api, views

app_name = "corpora"
urlpatterns = [
    path("", views.index, name="index"),
    path("quota/", views.quota, name="quota"),
    path("conversations/", views.conversations, name="conversations"),
    path("<int:pk>/", views.detail, name="detail"),
    path("<int:pk>/fragment/", views.detail_fragment, name="detail_fragment"),
    path("<int:pk>/row/", views.row, name="row"),
    path("<int:pk>/rename/", views.rename, name="rename"),
    path("<int:pk>/delete/", views.delete, name="delete"),
    path("uploads/", api.start_upload, name="start_upload"),
    path("uploads/<int:pk>/", api.upload, name="upload"),
]
