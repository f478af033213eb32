from django.urls import path

from webapp.limits import views

urlpatterns = [path("storage/", views.storage_page, name="storage")]
