from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("accounts/", include("webapp.accounts.urls")),
    path("admin/", admin.site.urls),
    path("corpora/", include("webapp.corpora.urls")),
    path("tokenizers/", include("webapp.tokenization.urls")),
    path("training/", include("webapp.training.urls")),
    path("playground/", include("webapp.playground.urls")),
    path("anatomy/", include("webapp.anatomy.urls")),
    path("arena/", include("webapp.arena.urls")),
    path("models/", include("webapp.registry.urls")),
    path("api/", include("webapp.api.urls")),
    path("evaluate/", include("webapp.evaluation.urls")),
    path("v1/", include("webapp.api.urls_v1")),
    path("", include("webapp.limits.urls")),
    path("", include("webapp.system.urls")),
]

handler400 = "webapp.web.errors.bad_request"
handler403 = "webapp.web.errors.permission_denied"
handler404 = "webapp.web.errors.page_not_found"
handler500 = "webapp.web.errors.server_error"
