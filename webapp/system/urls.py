from django.urls import path

from webapp.system import views

urlpatterns = [
    path("", views.home, name="home"),
    path("status/", views.status, name="status"),
    # The health answers: any Host (webapp/system/middleware.py), no https redirect (settings).
    path("livez", views.livez, name="livez"),
    path("readyz", views.readyz, name="readyz"),
    path("healthz", views.readyz, name="healthz"),  # readiness, by its older name
]
