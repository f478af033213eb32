from django.urls import path

from webapp.playground import views

app_name = "playground"
urlpatterns = [path("", views.index, name="index")]
