"""/anatomy/?model_version=ID&text=...: a link to an analysis, which is also what the form sends
when it is submitted before its script has run (a slow page): the page opens with that version
and prompt, marked for the script to look inside at once (tests/browser/test_anatomy.py)."""

import re

import pytest
from django.urls import reverse

pytestmark = pytest.mark.django_db


def test_a_link_opens_with_its_version_and_prompt(alice_client, version, alice, tiny_checkpoint):
    from tests.webapp.playground.conftest import make_version

    other = make_version(alice, tiny_checkpoint, name="other")
    text = "the <b>mouse</b> & the cat"
    page = alice_client.get(reverse("anatomy:index"), {"model_version": version.pk, "text": text})
    html = page.content.decode()
    assert re.search(rf'<option value="{version.pk}" selected>', html)
    assert not re.search(rf'<option value="{other.pk}" selected>', html)
    assert "the &lt;b&gt;mouse&lt;/b&gt; &amp; the cat</textarea>" in html
    assert re.search(r'<div id="anatomy"[^>]* data-asked>', html)
    # The CSRF token is outside the form: a form sent as a GET never puts it in the URL.
    form = re.search(r'<form class="an-form.*?</form>', html, re.S).group(0)
    assert "csrfmiddlewaretoken" not in form and "csrfmiddlewaretoken" in html


def test_without_a_prompt_it_opens_as_usual(alice_client, version):
    html = alice_client.get(reverse("anatomy:index")).content.decode()
    assert "data-asked" not in html and "yonder window breaks?</textarea>" in html
