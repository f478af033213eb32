"""A worker's error reaches the battle page with the versions named as the sides only."""

import pytest

from tests.webapp.arena.conftest import answered_battle, make_version
from webapp.arena.actions import battle_state, redact

pytestmark = pytest.mark.django_db


def test_it_names_the_sides_not_the_versions(alice, completion, tiny_checkpoint):
    the = make_version(alice, tiny_checkpoint, name="the", version=3)
    other = make_version(alice, tiny_checkpoint, name="the-other", version=1)
    battle = answered_battle(alice, completion, the, other)
    names = battle_state(alice, battle.public_id).names  # what the battle's socket holds
    said = redact(names, "the v3: the model cannot be loaded (no weights)")
    assert said == "model A: the model cannot be loaded (no weights)"
    said = redact(names, f"model version {other.pk} no longer exists; the-other v1 neither")
    assert said == "model B no longer exists; model B neither"
    assert redact(names, "the v30 is not the v3") == "the v30 is not model A"
