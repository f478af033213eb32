"""Every app says its part of the deletion plans (webapp/deletion/plans.py): each relation into
a deletable model is spoken for, each kind of job stops before it goes, and each model that
owns files can be deleted with them."""

from __future__ import annotations

from webapp.deletion.jobs import JobPart
from webapp.deletion.plans import DEPENDANTS, PARTS
from webapp.jobs.models import job_models
from webapp.tokenization.models import TokenizerRun
from webapp.training.models import TrainingRun
from webapp.web.files import file_owners


def unsaid(parts: dict, dependants: dict) -> list[str]:
    """ "Dependant.relation -> Model" for each relation into a deletable model that no app's
    deletion.py speaks for (its page would be silent about what happens to those rows)."""
    found = []
    for model in parts:
        said = {f for fields in dependants.get(model, {}) for f in fields}
        for relation in model._meta.related_objects:
            if relation.field not in said:
                found.append(f"{relation.related_model.__name__}.{relation.field.name} -> "
                             f"{model.__name__}")  # fmt: skip
    return sorted(found)


def test_every_relation_into_a_deletable_model_is_spoken_for():
    assert unsaid(PARTS, DEPENDANTS) == []
    assert len(PARTS) >= 9 and sum(len(d) for d in DEPENDANTS.values()) >= 17  # it sees them


def test_the_check_would_catch_a_relation_nobody_speaks_for():
    field = TrainingRun._meta.get_field("tokenizer")
    fewer = {model: dict(said) for model, said in DEPENDANTS.items()}
    del fewer[TokenizerRun][(field,)]
    assert unsaid(PARTS, fewer) == ["TrainingRun.tokenizer -> TokenizerRun"]


def test_every_kind_of_job_stops_first_and_every_file_owner_is_deletable():
    assert {m for m in job_models() if not isinstance(PARTS.get(m), JobPart)} == set()
    assert set(file_owners()) - set(PARTS) == set()
    assert len(job_models()) >= 3 and len(file_owners()) >= 7
