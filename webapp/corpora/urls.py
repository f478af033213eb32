from django.urls import path, reverse

from webapp.corpora import views
from webapp.corpora.actions import CORPUS_UPLOADS
from webapp.corpora.models import Corpus
from webapp.deletion.views import delete_view
from webapp.uploads.views import start_view, upload_view


def _list_of(corpus: Corpus) -> str:
    return reverse("corpora:conversations" if corpus.is_conversations else "corpora:index")


app_name = "corpora"
urlpatterns = [
    path("", views.index, name="index"),
    path("quota/", views.quota, name="quota"),
    path("conversations/", views.conversations, name="conversations"),
    path("<int:pk>/", views.detail, name="detail"),
    path("<int:pk>/fragment/", views.detail_fragment, name="detail_fragment"),
    path("<int:pk>/row/", views.row, name="row"),
    path("<int:pk>/rename/", views.rename, name="rename"),
    path("<int:pk>/delete/", delete_view(Corpus, done=_list_of), name="delete"),
    path("uploads/", start_view(CORPUS_UPLOADS), name="start_upload"),
    path("uploads/<int:pk>/", upload_view(CORPUS_UPLOADS), name="upload"),
]
