"""axe-core over every page of a new user's journey, signed in and with data: upload, train a
tokenizer, train a model, its version, the playground (inspector open) and score mode, the arena
(a battle before and after the vote, a leaderboard, your votes), evaluation (the form, a run,
the leaderboard, a result's items, task files), the anatomy of a prompt, the API keys page with
a key. No page may have a violation of impact "serious" or "critical" (the Storage and API
keys tables: of any impact); each page is also screenshotted."""

import re
import uuid

import pytest
from playwright.sync_api import expect

from tests.browser.a11y import EVERY_IMPACT, audit, screenshot_dir
from tests.browser.helpers import leaderboard_cell, make_tiny_version, sign_in
from tests.webapp.fixtures_ml import corpus_text

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def _local_only(page, stack, outside):
    """Abort (and record) any request that leaves the stack: axe must come from the wheel."""

    def handle(route):
        if route.request.url.startswith(stack.url):
            route.continue_()
        else:
            outside.append(route.request.url)
            route.abort()

    page.context.route("**/*", handle)


def test_every_page_of_the_journey_has_no_serious_violation(page, stack, tmp_path):
    shots = screenshot_dir(stack.var_dir / "a11y")
    found, outside = [], []
    _local_only(page, stack, outside)
    token = uuid.uuid4().hex[:8]

    page.goto(stack.url + "/")
    found += audit(page, "01-sign-in", shots)
    sign_in(page, stack)
    found += audit(page, "02-home", shots)
    page.goto(stack.url + "/status/")
    expect(page.locator("tr.ok").first).to_be_visible(timeout=20_000)
    found += audit(page, "03-status", shots)

    source = tmp_path / f"journey-{token}.txt"
    # Text of its own: the stack's user refuses a second copy of another test's corpus.
    source.write_text(corpus_text(lines=1500) + f"The journey {token}.\n", encoding="utf-8")
    page.goto(stack.url + "/corpora/")
    page.locator("#file-input").set_input_files(source)
    row = page.locator("#corpora tbody tr", has_text=source.name)
    expect(row.locator(".badge")).to_have_text("Ready", timeout=30_000)
    found += audit(page, "04-corpora", shots)
    row.get_by_role("link", name=source.name).click()
    expect(page.get_by_role("heading", name="Statistics")).to_be_visible()
    found += audit(page, "05-corpus", shots)

    page.goto(stack.url + "/tokenizers/")
    page.get_by_label("Name").fill(f"tok-{token}")
    page.get_by_label(source.name).check()
    page.get_by_label("Vocab size").fill("320")
    found += audit(page, "06-tokenizers", shots)
    page.get_by_role("button", name="Train tokenizer").click()
    expect(page.get_by_role("heading", name="Tokenize this text")).to_be_visible(timeout=60_000)
    expect(page.locator("#tokenize-tokens .token").first).to_be_visible()
    found += audit(page, "07-tokenizer", shots)

    page.goto(stack.url + "/training/")
    page.get_by_label("Name").fill(f"model-{token}")
    page.get_by_label(source.name).check()
    page.get_by_label("Tokenizer").select_option(label=f"tok-{token} (320 tokens)")
    for label, value in [("Layers", "1"), ("Heads", "2"), ("Width", "32"), ("Context", "32"),
                         ("Batch size", "8"), ("Max steps", "60")]:  # fmt: skip
        page.get_by_label(label, exact=True).fill(value)
    page.get_by_label("Device", exact=True).select_option("cpu")
    expect(page.locator('[data-estimate="tokens_per_step"]')).to_have_text("256")
    found += audit(page, "08-training", shots)
    page.get_by_role("button", name="Launch").click()
    expect(page).to_have_url(re.compile(r"/training/\d+/$"))
    expect(page.locator('[data-live="step"]')).not_to_have_text("–", timeout=60_000)
    found += audit(page, "09-run-live", shots)
    expect(page.locator("#job-status .badge")).to_have_text("Succeeded", timeout=120_000)
    found += audit(page, "10-run-done", shots)

    page.goto(stack.url + "/models/")
    found += audit(page, "11-models", shots)
    page.get_by_role("link", name=re.compile(f"model-{token} v1")).first.click()
    found += audit(page, "12-model", shots)
    page.goto(stack.url + "/storage/")
    expect(page.locator("#storage")).to_contain_text(f"model-{token} v1")
    found += audit(page, "12b-storage", shots, EVERY_IMPACT)  # no empty header, even minor

    page.goto(stack.url + "/playground/")
    expect(page.locator("[data-field=connection]")).to_have_text("Connected.")
    option = page.locator("#pg-model option", has_text=f"model-{token} v1")
    page.get_by_label("Model version").select_option(option.get_attribute("value"))
    page.get_by_label("Prompt").fill("the mouse")
    page.get_by_label("Max new tokens", exact=False).fill("20")
    page.get_by_role("button", name="Generate").click()
    column = page.locator(".pg-column").first
    expect(column.locator("[data-stat=reason]")).not_to_have_text("–", timeout=30_000)
    column.locator(".pg-token", has_text=re.compile(r"\S")).first.hover()  # "\n" has no box
    expect(page.locator("[data-role=inspector]")).to_be_visible()
    found += audit(page, "13-playground", shots)
    page.get_by_label("Score").check()
    page.get_by_role("button", name="Score", exact=True).click()
    expect(page.locator("[data-score=total_logprob]")).to_have_count(2, timeout=30_000)
    found += audit(page, "14-score", shots)

    make_tiny_version(stack, f"rival-{token}")
    page.goto(stack.url + "/arena/")
    found += audit(page, "14b-arena", shots)
    page.get_by_label("Board").select_option("completion")
    page.get_by_label("Prompt").fill("the mouse")
    page.get_by_label("First model").select_option(label=f"model-{token} v1 · base")
    page.get_by_label("Second model").select_option(label=f"rival-{token} v1 · base")
    page.get_by_label("Max new tokens").fill("12")
    page.get_by_role("button", name="Start battle").click()
    expect(page.get_by_role("button", name="Tie")).to_be_enabled(timeout=30_000)
    found += audit(page, "14c-battle", shots)
    page.get_by_role("button", name="Tie").click()
    expect(page.locator("#arena-reveal")).to_be_visible()
    found += audit(page, "14d-battle-revealed", shots)
    page.goto(stack.url + "/arena/leaderboard/completion/")
    found += audit(page, "14e-arena-leaderboard", shots)
    page.goto(stack.url + "/arena/votes/")
    found += audit(page, "14f-arena-votes", shots)
    found += _evaluation_pages(page, stack, shots, f"model-{token} v1", source.name)

    # Anatomy with the whole picture drawn: token ids over the loss colours, heads, lens.
    page.goto(stack.url + "/anatomy/")
    option = page.locator("#an-model option", has_text=f"model-{token} v1")
    page.get_by_label("Model version").select_option(option.get_attribute("value"))
    page.get_by_label("Prompt", exact=True).fill("the mouse ate the cheese")
    page.get_by_role("button", name="Look inside").click()
    tokens = page.get_by_role("listbox", name="Tokens of the text").get_by_role("option")
    expect(tokens.last).to_have_attribute("aria-selected", "true", timeout=30_000)
    found += audit(page, "16-anatomy", shots)

    page.goto(stack.url + "/api/keys/")
    page.get_by_label("Name").fill("notebook")
    page.get_by_role("button", name="Create key").click()
    expect(page.locator("#keys")).to_contain_text("notebook")
    found += audit(page, "17-api-keys", shots, EVERY_IMPACT)  # no empty header, even minor

    page.goto(stack.url + "/corpora/999999/")
    found += audit(page, "15-not-found", shots)

    assert outside == []
    assert found == [], "\n".join(found)


def _evaluation_pages(page, stack, shots, version: str, corpus: str) -> list[str]:
    """Evaluate: the form, a run (live, then done), the leaderboard, a result's items."""
    found = []
    page.goto(stack.url + "/evaluate/")
    # Audited before filling: after a long session, the submit's click straight after the
    # audit's full-page screenshot never reached the button (no click event, no request).
    found += audit(page, "14g-evaluate", shots)
    page.get_by_label("Name", exact=True).fill("journey check")
    page.locator("[data-field=versions]").get_by_label(version, exact=True).check()
    page.locator("[data-field=cloze_corpora]").get_by_label(corpus).check()
    page.locator("[data-field=bpb_corpora]").get_by_label(corpus).check()
    page.get_by_label("Cloze items").fill("10")
    page.get_by_role("button", name="Evaluate").click()
    expect(page).to_have_url(re.compile(r"/evaluate/\d+/$"), timeout=30_000)
    # The page reloads itself when the run ends (no audit meanwhile: a reload would cut it).
    expect(page.get_by_role("button", name="Cancel")).to_have_count(0, timeout=180_000)
    expect(page.locator("#job-status .badge")).to_have_text("Succeeded")
    found += audit(page, "14h-evaluation-run", shots)
    page.goto(stack.url + "/evaluate/leaderboard/")
    page.locator("#leaderboard").get_by_role("link", name=f"cloze · {corpus}").first.click()
    expect(page.locator("#leaderboard th[aria-sort]")).to_contain_text("cloze")
    found += audit(page, "14i-evaluation-leaderboard", shots)
    leaderboard_cell(page, version, f"cloze · {corpus}").get_by_role("link").click()
    expect(page.locator("section.item").first).to_be_visible()
    found += audit(page, "14j-evaluation-items", shots)
    page.goto(stack.url + "/evaluate/tasks/")
    found += audit(page, "14k-evaluation-task-files", shots)
    return found
