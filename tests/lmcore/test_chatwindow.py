"""A conversation longer than the context keeps its system message and newest whole turns
(lmcore/chatwindow.py); the count is the caller's, here lmcore's own chat template."""

import pytest

from lmcore.chat import render
from lmcore.chatwindow import DoesNotFit, done_reason, fit_conversation, reply_room

SYSTEM = {"role": "system", "content": "answer in one word"}


def turns(n: int) -> list[dict]:
    words = ["the mouse ate the cheese", "a cat", "the cheese and the cat", "naïve mouse"]
    out = []
    for i in range(n):
        out += [{"role": "user", "content": words[i % 4]},
                {"role": "assistant", "content": words[(i + 1) % 4]}]  # fmt: skip
    return out


@pytest.fixture
def count(small_tokenizer):
    return lambda messages: len(render(small_tokenizer, messages, generation_prompt=True).ids)


def test_a_conversation_that_fits_is_kept_whole(count):
    conversation = [SYSTEM, *turns(2), {"role": "user", "content": "the cat"}]
    fitted = fit_conversation(conversation, count, context=256, room=16)
    assert fitted.messages == conversation and fitted.dropped == 0
    assert fitted.prompt_tokens == count(conversation)


def test_the_oldest_turns_go_whole_and_the_system_message_stays(count):
    conversation = [SYSTEM, *turns(6), {"role": "user", "content": "the cat"}]
    context, room = count(conversation) - 5, 10
    fitted = fit_conversation(conversation, count, context, room)
    assert fitted.messages[0] == SYSTEM and fitted.messages[1]["role"] == "user"
    assert fitted.messages[-1] == conversation[-1]
    assert fitted.dropped % 2 == 0 and fitted.dropped > 0
    assert fitted.messages[1:] == conversation[1 + fitted.dropped :]
    assert fitted.prompt_tokens == count(fitted.messages) <= context - room
    # ... and as many turns as fit: one more would not
    one_more = [SYSTEM, *conversation[1 + fitted.dropped - 2 :]]
    assert count(one_more) > context - room


def test_without_a_system_message_it_starts_at_a_user_message(count):
    conversation = [*turns(5), {"role": "user", "content": "the cat"}]
    fitted = fit_conversation(conversation, count, context=count(conversation), room=12)
    assert fitted.messages[0]["role"] == "user" and fitted.dropped > 0


def test_a_last_message_that_cannot_fit_is_refused_with_its_size(count):
    long = {"role": "user", "content": "the mouse ate the cheese " * 20}
    with pytest.raises(DoesNotFit, match=r"the last message with the system message makes a "
                       r"prompt of [\d,]+ tokens; the model's context is 64 tokens and 16 are "
                       r"kept for the reply: shorten it"):  # fmt: skip
        fit_conversation([SYSTEM, *turns(1), long], count, context=64, room=16)


def test_the_reply_has_what_was_asked_up_to_half_the_context():
    assert reply_room(200, 128) == 64 and reply_room(16, 128) == 16 and reply_room(5, 1) == 1


def test_a_reply_cut_by_the_context_says_context_full():
    assert done_reason("max_new_tokens", asked=200, allowed=57) == "context_full"
    assert done_reason("max_new_tokens", asked=57, allowed=57) == "max_new_tokens"
    assert done_reason("end_of_text", asked=200, allowed=57) == "end_of_text"
