"""A chat that outgrows the model's context goes on (the oldest turns left out, and the page
says so), a reply cut by the full context says "context full", a refused message leaves the
transcript as it was, and the last reply shows once (the launcher's stack, chromium)."""

import re

import pytest
from playwright.sync_api import expect

from tests.browser.helpers import make_tiny_version, sign_in

pytestmark = [pytest.mark.browser, pytest.mark.slow]


@pytest.fixture(scope="module")
def chat_version(stack):
    # Context 64, random weights whose greedy replies never end by themselves: each reply runs
    # until the context is full. (Its name contains no other test's model name: the stack is
    # shared, and test_chat.py looks for "chatty v1".)
    return make_tiny_version(stack, "context-talker", chat=True, quiet_specials=True)


def send(page, text):
    page.get_by_label("Message").fill(text)
    page.get_by_role("button", name="Generate").click()


def test_a_long_chat_goes_on_and_a_refused_message_leaves_it_usable(page, stack, chat_version):
    sign_in(page, stack)
    page.goto(stack.url + "/playground/")
    expect(page.locator("[data-field=connection]")).to_have_text("Connected.")
    page.get_by_label("Chat", exact=True).check()
    page.get_by_label("Model version").select_option(label=chat_version)
    page.get_by_label("Temperature").fill("0")
    page.get_by_label("Max new tokens").fill("200")
    transcript = page.locator("[data-role=chat] .pg-msg")
    reason = page.locator(".pg-column [data-stat=reason]")
    generate = page.get_by_role("button", name="Generate")

    # 1. The reply fills the context: said in words, and shown once (in its column).
    send(page, "the mouse ate the cheese")
    expect(reason).to_have_text("context full", timeout=30_000)
    expect(generate).to_be_enabled()
    expect(transcript).to_have_count(1)  # the user's message; the reply is the column below
    first_reply = page.locator(".pg-column .pg-out").inner_text()
    assert first_reply and first_reply not in page.locator("[data-role=chat]").inner_text()

    # 2. The conversation no longer fits: the oldest turn is left out, and the page says so.
    send(page, "and the cat?")
    expect(reason).to_have_text("context full", timeout=30_000)
    expect(generate).to_be_enabled()
    note = page.locator("[data-field=dropped]")
    expect(note).to_contain_text("written without the 2 oldest messages")
    expect(transcript).to_have_count(3)  # user, the first reply (as text now), user
    expect(transcript.nth(1)).to_have_text(first_reply)
    expect(page.locator(".pg-msg.out-of-view")).to_have_count(2)
    assert page.locator("[data-field=error]").is_hidden()

    # 3. A message that cannot fit even alone is refused, and leaves the transcript as it was:
    # no dangling message, the text back in the box to shorten.
    long = "the mouse ate the cheese " * 20
    send(page, long)
    error = page.locator("[data-field=error]")
    expect(error).to_contain_text("the last message alone makes a prompt of", timeout=30_000)
    expect(error).to_contain_text("shorten it")
    expect(transcript).to_have_count(4)  # the second reply is text now: its column was cleared
    expect(transcript.last).to_have_class(re.compile(r"\bassistant\b"))
    expect(page.get_by_label("Message")).to_have_value(long)
    expect(generate).to_be_enabled()

    # 4. ... so the next message is answered (it used to fail with "not a conversation").
    send(page, "the cat")
    expect(reason).to_have_text("context full", timeout=30_000)
    expect(error).to_be_hidden()
    expect(transcript).to_have_count(5)
    expect(transcript.nth(4)).to_have_text("the cat")

    # The saved conversation holds the whole exchange, without the refused message.
    saved = page.locator(".pg-conv", has_text="the mouse ate the cheese")
    expect(saved).to_have_count(1)
    expect(saved).to_have_class(re.compile(r"\bcurrent\b"))
    page.reload()
    expect(page.locator("[data-field=connection]")).to_have_text("Connected.")
    saved.get_by_role("button", name="the mouse ate the cheese", exact=True).click()
    expect(transcript).to_have_count(6)  # reopened: every message as text, the last reply too
    assert long.strip() not in page.locator("[data-role=chat]").inner_text()
