from django.urls import path

from webapp.tokenization import views

app_name = "tokenization"
urlpatterns = [path("", views.index, name="index")]
