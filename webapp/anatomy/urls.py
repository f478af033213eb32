from django.urls import path

from webapp.anatomy import views

app_name = "anatomy"
urlpatterns = [
    path("", views.index, name="index"),
    path("inspect", views.inspect, name="inspect"),
    path("focus", views.focus, name="focus"),
]
