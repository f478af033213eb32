"""Chat through the API with imported models, `/v1/models` saying which ids chat, and the
sharing rule: a name's production base and production chat versions are both shared."""

import pytest

from lmcore.tokenizer import Tokenizer
from tests.hf_models import greedy_reply, save_chatml_model
from tests.webapp.api.conftest import client_for, issue_key, make_version
from tests.webapp.playground.conftest import WORDS
from webapp.registry.actions import do_import_version

pytestmark = pytest.mark.django_db(transaction=True)

QUESTION = [{"role": "user", "content": "the cat ate the mouse?"}]


def test_an_imported_chat_model_answers_as_transformers(alice_api, alice, tmp_path):
    corpus = tmp_path / "words.txt"
    corpus.write_text(" ".join(WORDS * 40) + "\n", encoding="utf-8")
    model, hf_tok, end_ids = save_chatml_model(corpus, tmp_path / "src", QUESTION)
    version = do_import_version(alice, "smol", tmp_path / "src")
    expected = greedy_reply(model, hf_tok, QUESTION, end_ids)
    tok = Tokenizer.load(version.directory)

    listed = {m.id: m.model_dump()["chat"] for m in alice_api.models.list().data}
    assert listed == {"smol": True, "smol:v1": True}
    answer = alice_api.chat.completions.create(
        model="smol", messages=QUESTION, max_tokens=30, temperature=0, logprobs=True
    )
    (choice,) = answer.choices
    # Token for token (the playground's test compares ids; here the text and the count).
    assert answer.usage.completion_tokens == len(expected) == len(choice.logprobs.content)
    assert choice.finish_reason == "stop"  # it ended at the imported end id, not the limit
    assert choice.message.content == tok.decode(expected[:-1])  # the end id is no text


def test_production_base_and_chat_versions_are_both_shared(
    api_url, bob, admin_user, tiny_checkpoint, celery_worker
):
    base = make_version(admin_user, tiny_checkpoint, name="tiny", version=1)
    chat = make_version(admin_user, tiny_checkpoint, name="tiny", version=2, is_chat=True,
                        parent=base)  # fmt: skip
    make_version(admin_user, tiny_checkpoint, name="tiny", version=3)  # a newer base candidate
    base.promote()
    chat.promote()
    base.refresh_from_db()
    assert base.status == chat.status == "production"  # one per kind, not per name

    bobs = client_for(api_url, issue_key(bob))
    listed = {m.id: m.model_dump()["chat"] for m in bobs.models.list().data}
    assert listed == {"admin/tiny": True, "admin/tiny:v2": True, "admin/tiny:v1": False}
    completion = bobs.completions.create(model="admin/tiny", prompt="the", max_tokens=2, seed=1)
    assert completion.model == "admin/tiny:v1"  # the bare name: the production base version
    reply = bobs.chat.completions.create(model="admin/tiny", messages=QUESTION, max_tokens=2)
    assert reply.model == "admin/tiny:v2"  # for chat: the production chat version

    make_version(admin_user, tiny_checkpoint, name="tiny", version=4, is_chat=True).promote()
    chat.refresh_from_db()
    base.refresh_from_db()
    assert chat.status == "candidate" and base.status == "production"  # same kind only


def test_settings_left_out_take_the_models_own_defaults(alice_api, alice, tmp_path):
    corpus = tmp_path / "words.txt"
    corpus.write_text(" ".join(WORDS * 40) + "\n", encoding="utf-8")
    save_chatml_model(corpus, tmp_path / "src", QUESTION)  # temperature 0.7, top_p 0.9
    do_import_version(alice, "smol", tmp_path / "src")

    def text(**settings):
        answer = alice_api.completions.create(model="smol", prompt="the cat", max_tokens=24,
                                              seed=3, **settings)  # fmt: skip
        return answer.choices[0].text

    own = text()
    assert own == text(temperature=0.7, top_p=0.9)
    assert own != text(temperature=1.5, top_p=1.0)
