"""Personas and a signed-in client: alice owns things, bob is another user, admin is staff."""

from __future__ import annotations

import pytest

from tests.webapp.fixtures_ml import (  # noqa: F401  (shared fixtures)
    _tokenizer_cache,
    chat_tokenizer_run,
    corpus,
    tokenizer_run,
)


@pytest.fixture(autouse=True)
def _services(services: str) -> str:
    return services


@pytest.fixture
def alice(django_user_model):
    return django_user_model.objects.create_user("alice", password="alice-password-1")


@pytest.fixture
def bob(django_user_model):
    return django_user_model.objects.create_user("bob", password="bob-password-1")


@pytest.fixture
def admin_user(django_user_model):
    return django_user_model.objects.create_superuser("admin", password="admin-password-1")


@pytest.fixture
def alice_client(client, alice):
    client.force_login(alice)
    return client
