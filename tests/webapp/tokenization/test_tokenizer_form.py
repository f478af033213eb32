"""The tokenizer form proposes the vocabulary the training form's preset was tuned with."""

import re

import pytest
from django.urls import reverse

from lmcore.presets import PRESETS
from webapp.tokenization.forms import PROPOSED_PRESET
from webapp.training.forms import TrainingRunForm

pytestmark = pytest.mark.django_db


def proposed_vocab(client, query: str = "") -> int:
    page = client.get(reverse("tokenization:index") + query).content.decode()
    [tag] = re.findall(r"<input[^>]*name=\"vocab_size\"[^>]*>", page)
    return int(re.search(r'value="(\d+)"', tag).group(1))


def test_it_proposes_the_default_presets_vocabulary(alice_client):
    default_preset = TrainingRunForm.base_fields["preset"].initial  # one default for both forms
    assert PROPOSED_PRESET == default_preset == "tiny"
    assert proposed_vocab(alice_client) == PRESETS["tiny"].vocab_size == 2048
    page = alice_client.get(reverse("tokenization:index")).content.decode()
    assert "2,048 for tiny" in page and "32,768 for base" in page


def test_it_proposes_the_vocabulary_of_the_preset_asked_for(alice_client):
    assert proposed_vocab(alice_client, "?preset=small") == PRESETS["small"].vocab_size == 2048
    assert proposed_vocab(alice_client, "?preset=base") == PRESETS["base"].vocab_size
    assert proposed_vocab(alice_client, "?preset=nonsense") == 2048


def test_a_posted_vocabulary_is_kept_on_error_whatever_the_preset(alice_client):
    response = alice_client.post(
        reverse("tokenization:index") + "?preset=small", {"name": "x", "vocab_size": 3000}
    )
    assert response.status_code == 200
    assert 'value="3000"' in response.content.decode()
