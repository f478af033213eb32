"""/v1/chat/completions: rendered by the worker with the model's chat template."""

import pytest
from openai import BadRequestError

from tests.webapp.api.conftest import make_version

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def version(alice, tiny_checkpoint):
    """A chat version (what Fine-tune for chat makes); the weights don't matter here."""
    return make_version(alice, tiny_checkpoint, is_chat=True)


CHAT = [{"role": "system", "content": "be brief"}, {"role": "user", "content": "the mouse?"}]


def test_it_answers_a_chat(alice_api, version):
    answer = alice_api.chat.completions.create(model="tiny", messages=CHAT, max_tokens=12, seed=4)
    assert answer.object == "chat.completion" and answer.model == "tiny:v1"
    (choice,) = answer.choices
    assert choice.message.role == "assistant" and isinstance(choice.message.content, str)
    assert choice.finish_reason in ("stop", "length") and choice.logprobs is None
    assert answer.usage.prompt_tokens > 4 and 0 < answer.usage.completion_tokens <= 12


def test_it_streams_a_chat_with_logprobs_and_usage(alice_api, version):
    settings = {"model": "tiny", "messages": CHAT, "max_completion_tokens": 20, "seed": 9,
                "logprobs": True, "top_logprobs": 4}  # fmt: skip
    whole = alice_api.chat.completions.create(**settings)
    chunks = list(alice_api.chat.completions.create(**settings, stream=True,
                                                    stream_options={"include_usage": True}))  # fmt: skip
    *pieces, last = chunks
    assert last.choices == [] and last.usage.total_tokens == whole.usage.total_tokens
    assert pieces[0].choices[0].delta.role == "assistant"
    assert all(c.object == "chat.completion.chunk" and c.usage is None for c in pieces)
    text = "".join(c.choices[0].delta.content or "" for c in pieces)
    assert text == whole.choices[0].message.content
    assert pieces[-1].choices[0].finish_reason == whole.choices[0].finish_reason
    content = whole.choices[0].logprobs.content
    assert len(content) == whole.usage.completion_tokens
    for entry in content:
        assert entry.logprob <= 0 and len(entry.top_logprobs) == 4 and entry.bytes
        assert entry.top_logprobs[0].logprob >= entry.top_logprobs[-1].logprob
    streamed = [
        e.token for c in pieces if c.choices[0].logprobs for e in c.choices[0].logprobs.content
    ]
    assert streamed == [e.token for e in content]


def test_a_base_model_gets_a_clear_400(alice_api, alice, tiny_checkpoint):
    make_version(alice, tiny_checkpoint, name="base")
    with pytest.raises(BadRequestError) as caught:
        alice_api.chat.completions.create(model="base", messages=CHAT)
    error = caught.value.body
    assert error["param"] == "model" and error["code"] == "no_chat_template"
    assert "has no chat template: it was not fine-tuned on conversations" in error["message"]
    assert "/v1/completions" in error["message"]


def test_a_chat_version_left_without_a_template_gets_a_400(alice_api, alice, tiny_checkpoint):
    from lmcore.tokenizer import Tokenizer

    odd = make_version(alice, tiny_checkpoint, name="odd", is_chat=True)
    assert "<|user|>" in Tokenizer.load(odd.directory).special_tokens
    path = odd.directory / "tokenizer.json"  # no stored template, and now no lmcore layout
    path.write_text(path.read_text().replace('"<|user|>"', '"<|usr|>"'))
    with pytest.raises(BadRequestError, match=r"odd v1 has no chat template"):
        alice_api.chat.completions.create(model="odd", messages=CHAT, max_tokens=8)


def test_messages_must_follow_the_templates_order(alice_api, version):
    with pytest.raises(BadRequestError) as caught:
        alice_api.chat.completions.create(
            model="tiny",
            messages=[{"role": "user", "content": "a"}, {"role": "system", "content": "b"}],
        )
    assert caught.value.body["param"] == "messages"
    assert "a system message may only come first" in caught.value.body["message"]


def test_a_conversation_longer_than_the_context_is_refused_not_cut(alice_api, version):
    """An API client gets what it sent answered or a 400 (as OpenAI's context_length errors),
    never an answer to fewer messages than it sent; the playground fits instead."""
    messages = [{"role": "user", "content": "the mouse ate the cheese " * 30}]
    with pytest.raises(BadRequestError) as caught:
        alice_api.chat.completions.create(model="tiny", messages=messages, max_tokens=4)
    assert "no room for a reply" in caught.value.body["message"]
