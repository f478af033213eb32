"""The home page's steps name every section a newcomer walks through, in the order they go."""

import re

import pytest
from django.urls import reverse

pytestmark = pytest.mark.django_db


def test_the_steps_include_every_section(alice_client):
    page = alice_client.get(reverse("home")).content.decode()
    steps = re.search(r'<ol class="steps">(.*?)</ol>', page, re.S).group(1)
    names = re.findall(r'<a href="[^"]+">([^<]+)</a>', steps)
    assert names == ["Corpora", "Tokenizers", "Training", "Models", "Conversations",
                     "Playground", "Anatomy", "Evaluate", "Arena", "API"]  # fmt: skip
