"""The project's own 404/403/500 pages, with DEBUG on too; JSON for the pages' scripts; a
failed CSRF check says to reload; a 4xx is not logged by Django (the access log has it)."""

import logging

import pytest
from django.http import HttpResponse
from django.test import Client
from django.urls import include, path

from tests.webapp.corpora.conftest import start
from webapp.corpora.models import Corpus

pytestmark = pytest.mark.django_db


def boom(request):
    raise RuntimeError("a bug")


def fine(request):
    return HttpResponse("fine")


urlpatterns = [path("boom/", boom), path("fine", fine), path("", include("webapp.urls"))]


@pytest.fixture(params=[True, False], ids=["debug", "production"])
def debug(request, settings):
    settings.DEBUG = request.param
    return request.param


def test_someone_elses_object_is_our_404_page(debug, alice_client, bob):
    corpus = Corpus.objects.create(owner=bob, name="b.txt", size_bytes=1)
    response = alice_client.get(f"/corpora/{corpus.pk}/")
    assert response.status_code == 404
    text = response.content.decode()
    assert "There is nothing here" in text and "URLconf" not in text
    assert 'aria-label="Sections"' in text  # the site's own layout, navigation included


def test_an_unknown_address_is_our_404_page(debug, alice_client):
    response = alice_client.get("/no/such/page/")
    assert response.status_code == 404
    assert "There is nothing here" in response.content.decode()
    assert alice_client.get("/corpora").status_code == 301  # APPEND_SLASH still redirects


def test_scripts_get_json_errors(debug, alice_client):
    response = alice_client.get("/corpora/999999/", headers={"Accept": "application/json"})
    assert response.status_code == 404 and "nothing here" in response.json()["error"]


def test_an_unexpected_error_is_our_500_page_and_logged_once(debug, alice_client, settings, caplog):
    settings.ROOT_URLCONF = __name__
    with caplog.at_level(logging.INFO, logger="django.request"):
        response = alice_client.get("/boom/")
    assert response.status_code == 500
    assert "Something went wrong on the server" in response.content.decode()
    errors = [r for r in caplog.records if r.name == "django.request"]
    assert len(errors) == 1 and errors[0].exc_info[0] is RuntimeError


def test_a_4xx_is_not_logged_by_django(alice_client, caplog):
    with caplog.at_level(logging.INFO):
        alice_client.get("/no/such/page/")
        alice_client.get("/corpora/999999/")
    assert [r for r in caplog.records if r.name == "django.request"] == []


def test_a_refused_csrf_check_on_the_upload_api_says_to_reload(alice):
    client = Client(enforce_csrf_checks=True)
    client.force_login(alice)
    response = start(client, name="a.txt", size=10)
    assert response.status_code == 403
    assert "reload the page" in response.json()["error"]
    page = client.post("/tokenizers/", {"name": "x"})
    assert page.status_code == 403 and "reload the page" in page.content.decode()
