"""The whole chat path for real: a conversation dataset uploaded and validated, a version
fine-tuned on it by the training worker, and a chat with the new version in the playground
(the launcher's stack, chromium). The base version is prepared, not trained through the pages:
test_training.py and test_accessibility.py drive tokenizer and training runs there."""

import json
import re

import pytest
from playwright.sync_api import expect

from tests.browser.helpers import add_versions, sign_in
from tests.tiny import build_tiny_checkpoint

pytestmark = [pytest.mark.browser, pytest.mark.slow]
COLOURS = ["red", "blue", "green", "white", "black", "pink"]


@pytest.fixture(scope="module")
def files(stack, tmp_path_factory):
    work = tmp_path_factory.mktemp("chat")
    base = build_tiny_checkpoint(work / "base", d_model=48, context=32)
    add_versions(stack, ("chatty", base, False))
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


# A fine-tuning on the real worker: several times longer on a shared machine than a quiet one.
@pytest.mark.timeout(600)
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

    # 2. Fine-tune version 1 for chat from the Models page (a prepared base: 2 layers, 48 wide,
    # random weights, the chat special tokens among its tokenizer's).
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

    # 3. The playground: chat is for chat versions; v2 answers, and stops at its end of turn.
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
