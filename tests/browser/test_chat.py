"""The whole chat path for real: a conversation dataset uploaded and validated, a version
fine-tuned on it by the training worker, and a chat with the new version in the playground
(the launcher's stack, chromium)."""

import json
import re

import pytest
from playwright.sync_api import expect

from tests.browser.helpers import sign_in
from tests.webapp.fixtures_ml import corpus_text

pytestmark = [pytest.mark.browser, pytest.mark.slow]
COLOURS = ["red", "blue", "green", "white", "black", "pink"]


@pytest.fixture(scope="module")
def files(stack, tmp_path_factory):
    work = tmp_path_factory.mktemp("chat")
    words = work / "words.txt"
    # Not the training test's text: the shared stack refuses a second copy of one text.
    words.write_text(corpus_text(lines=1500) + "\nchat corpus\n", encoding="utf-8")
    stack.manage("import_corpus", "--user", "admin", "--name", "chat-words", str(words))
    lines = [json.dumps({"messages": [{"role": "user", "content": f"say {c}"},
                                      {"role": "assistant", "content": c}]}) for c in COLOURS * 12]  # fmt: skip
    good = work / "colours.jsonl"
    good.write_text("\n".join(lines) + "\n", encoding="utf-8")
    bad = work / "broken.jsonl"
    bad.write_text(lines[0] + '\n{"messages": [{"role": "user", "content": "hi"}]}\n')
    return good, bad


def choose(page, select_id, text):
    """Select the option of `select_id` whose label contains `text`."""
    value = page.locator(f"#{select_id} option", has_text=text).first.get_attribute("value")
    page.locator(f"#{select_id}").select_option(value)


def upload(page, path):
    # The page's module (corpora.js) listens for the pick: it runs before the load event, and
    # a pick made before it (a click's navigation still loading) would go unheard.
    page.wait_for_load_state()
    page.locator("#file-input").set_input_files(str(path))


# Two trainings on the real worker (a base model, then its fine-tuning): about two minutes on
# a quiet 2-core machine, several times that on a shared one; the suite's 300 s is per test.
@pytest.mark.timeout(900)
def test_upload_fine_tune_and_chat_with_the_new_version(page, stack, files):
    good, bad = files
    sign_in(page, stack)
    nav = page.get_by_role("navigation", name="Sections")

    # 1. Conversation datasets: a bad file is refused with its line and reason, a good one counted.
    nav.get_by_role("link", name="Conversations").click()
    upload(page, bad)
    row = page.locator("#corpora tr[data-status=rejected]")
    expect(row).to_contain_text("line 2: no assistant message", timeout=30_000)
    upload(page, good)
    ready = page.locator("#corpora tr[data-status=ready]")
    expect(ready).to_contain_text("72", timeout=30_000)  # conversations
    ready.get_by_role("link", name="colours.jsonl").click()
    expect(page.locator("[data-stat=conversations]")).to_have_text("72")
    expect(page.locator(".chat-log").first).to_contain_text("say red")

    # 2. A base model: a tokenizer with the default special tokens, then a short run.
    nav.get_by_role("link", name="Tokenizers").click()
    page.get_by_label("Name").fill("chat-tok")
    page.get_by_label("chat-words").check()
    page.get_by_label("Vocab size").fill("320")
    page.get_by_role("button", name="Train tokenizer").click()
    expect(page.get_by_role("heading", name="Tokenize this text")).to_be_visible(timeout=60_000)
    nav.get_by_role("link", name="Training").click()
    page.get_by_label("Name").fill("chatty")
    page.get_by_label("chat-words").check()
    page.get_by_label("Tokenizer").select_option(label="chat-tok (320 tokens)")
    for label, value in [("Layers", "2"), ("Heads", "2"), ("Width", "48"), ("Context", "32"),
                         ("Batch size", "8"), ("Max steps", "20"), ("Eval every", "20")]:  # fmt: skip
        page.get_by_label(label, exact=True).fill(value)
    page.get_by_label("Device", exact=True).select_option("cpu")
    page.get_by_role("button", name="Launch").click()
    expect(page.locator("#job-status .badge")).to_have_text(
        re.compile("Succeeded"), timeout=300_000
    )

    # 3. Fine-tune version 1 for chat from the Models page.
    nav.get_by_role("link", name="Models").click()
    page.get_by_role("link", name="chatty v1").click()
    page.get_by_role("link", name="Fine-tune for chat").click()
    page.get_by_label("colours.jsonl").check()
    page.get_by_label("Learning rate").fill("0.01")
    page.get_by_label("Max steps").fill("150")
    page.get_by_label("Device", exact=True).select_option("cpu")
    page.get_by_role("button", name="Fine-tune", exact=True).click()
    expect(page.locator("#finetune-of")).to_contain_text("chatty v1")
    expect(page.locator("#job-status .badge")).to_have_text(
        re.compile("Succeeded"), timeout=600_000
    )
    expect(page.locator("#per-corpus")).to_contain_text("colours.jsonl")
    nav.get_by_role("link", name="Models").click()
    expect(page.locator("tr", has_text="chatty v2").locator(".badge.chat")).to_be_visible()

    # 4. The playground: chat is for chat versions; v2 answers, and stops at its end of turn.
    nav.get_by_role("link", name="Playground").click()
    expect(page.locator("[data-field=connection]")).to_have_text("Connected.")
    page.get_by_label("Chat", exact=True).check()
    choose(page, "pg-model", "chatty v1 ")
    expect(page.locator("[data-field=not-chat]")).to_be_visible()
    choose(page, "pg-model", "chatty v2 · chat")
    expect(page.locator("[data-field=not-chat]")).to_be_hidden()
    page.get_by_label("Temperature").fill("0")
    page.get_by_label("Message").fill("say green")
    page.get_by_role("button", name="Generate").click()
    reason = page.locator(".pg-column [data-stat=reason]").first
    expect(reason).to_have_text("end_of_text", timeout=30_000)
    # The reply shows once: in its column (tokens, stats) under the transcript.
    assert page.locator(".pg-column .pg-out").first.inner_text() == "green"
    expect(page.locator(".pg-chat .pg-msg")).to_have_count(1)  # the user's message
    page.screenshot(path=str(stack.var_dir / "chat.png"), full_page=True)
