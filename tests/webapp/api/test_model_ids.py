"""Every id `/v1/models` lists answers, for each kind of user (the owner, another user, staff),
through daphne with the real `openai` client: `OWNER/NAME` once gave a 500, a lazy relation
read on the event loop (webapp/api/lookups.py)."""

import pytest
from openai import BadRequestError

from tests.webapp.api.conftest import client_for, issue_key, make_version

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def versions(alice, bob, admin_user, tiny_checkpoint):
    make_version(alice, tiny_checkpoint, name="tiny", version=1)
    make_version(alice, tiny_checkpoint, name="tiny", version=2)
    make_version(admin_user, tiny_checkpoint, name="bard", version=1, status="production")
    make_version(admin_user, tiny_checkpoint, name="bard", version=2)  # a staff candidate
    make_version(bob, tiny_checkpoint, name="bobs", version=1)


def _resolved(model_id: str) -> str:
    """The `NAME:vN` an answer names: bare names mean the production version, else the latest."""
    if ":" in model_id:
        return model_id
    return model_id + {"tiny": ":v2", "bard": ":v1", "bobs": ":v1"}[model_id.split("/")[-1]]


@pytest.mark.parametrize("who", ["alice", "bob", "admin_user"])
def test_every_listed_id_answers(request, api_url, versions, celery_worker, who):
    user = request.getfixturevalue(who)
    client = client_for(api_url, issue_key(user))
    ids = [m.id for m in client.models.list().data]
    expected = {
        "alice": ["tiny", "tiny:v2", "tiny:v1", "admin/bard", "admin/bard:v1"],
        "bob": ["bobs", "bobs:v1", "admin/bard", "admin/bard:v1"],
        "admin_user": ["alice/tiny", "alice/tiny:v2", "alice/tiny:v1",
                       "bob/bobs", "bob/bobs:v1", "bard", "bard:v2",
                       "bard:v1"],
    }[who]  # fmt: skip
    assert sorted(ids) == sorted(expected)
    for model_id in ids:
        assert client.models.retrieve(model_id).id == model_id
        answer = client.completions.create(model=model_id, prompt="the", max_tokens=2, seed=1)
        assert answer.model == _resolved(model_id) and answer.choices[0].text is not None
        with pytest.raises(BadRequestError) as caught:  # base models: no chat template
            client.chat.completions.create(model=model_id,
                                           messages=[{"role": "user", "content": "hi"}])  # fmt: skip
        assert caught.value.body["code"] == "no_chat_template"
        assert caught.value.body["message"].startswith(_resolved(model_id) + ": ")
