"""A person plays with a model: tokens stream in, hover shows probabilities, Stop stops, and
score mode shows per-token values; the same by keyboard alone."""

import json
import re

import pytest
from playwright.sync_api import expect

from tests.browser.helpers import make_tiny_version, sign_in

pytestmark = [pytest.mark.browser, pytest.mark.slow]


@pytest.fixture(scope="module")
def model_version(stack):
    make_tiny_version(stack, "browser-tiny")


@pytest.fixture(scope="module")
def keyboard_version(stack):
    """A version of its own, so that its first answer has to load it."""
    make_tiny_version(stack, "browser-keys")


def test_it_streams_inspects_stops_and_scores(page, stack, model_version):
    sign_in(page, stack)
    page.goto(stack.url + "/playground/")
    expect(page.locator("[data-field=connection]")).to_have_text("Connected.")
    page.get_by_label("Model version").select_option(label="browser-tiny v1 · Candidate")
    page.get_by_label("Prompt").fill("the mouse")
    page.get_by_label("Max new tokens").fill("30")
    page.get_by_role("button", name="Generate").click()
    column = page.locator(".pg-column").first
    expect(column.locator("[data-stat=reason]")).not_to_have_text("–", timeout=20_000)
    assert column.locator(".pg-token").count() > 0
    column.locator(".pg-token").first.hover()
    inspector = page.locator("[data-role=inspector]")
    expect(inspector).to_be_visible()
    expect(inspector).to_contain_text("p (model)")
    assert inspector.locator("[data-alt]").count() == 5  # "Alternatives per token" default

    # Stop: a long greedy answer, stopped as soon as tokens arrive.
    page.get_by_label("Temperature").fill("0")
    page.get_by_label("Max new tokens").fill("1000")
    page.get_by_label("Prompt").fill("the")
    page.get_by_role("button", name="Generate").click()
    expect(column.locator(".pg-token").first).to_be_visible(timeout=20_000)
    page.get_by_role("button", name="Stop").click()
    expect(column.locator("[data-stat=reason]")).to_have_text("cancelled", timeout=10_000)
    assert int(column.locator("[data-stat=tokens]").inner_text()) < 1000

    page.get_by_label("Score").check()
    page.get_by_role("button", name="Score", exact=True).click()
    totals = page.locator("[data-score=total_logprob]")
    expect(totals).to_have_count(2, timeout=20_000)
    assert float(totals.first.inner_text()) < 0
    expect(page.locator(".pg-score-table").first.locator("tbody tr")).not_to_have_count(0)


def test_it_saves_reopens_and_deletes_a_conversation(page, stack, model_version):
    sign_in(page, stack)
    page.goto(stack.url + "/playground/")
    expect(page.locator("[data-field=connection]")).to_have_text("Connected.")
    page.get_by_label("Model version").select_option(label="browser-tiny v1 · Candidate")
    page.get_by_label("Prompt").fill("the cat ate")
    page.get_by_label("Max new tokens").fill("12")
    page.get_by_label("Seed").fill("42")
    page.get_by_role("button", name="Generate").click()
    saved = page.locator(".pg-conv", has_text="the cat ate")
    expect(saved).to_have_count(1, timeout=20_000)  # autosaved when the answer ended
    expect(saved).to_have_class(re.compile(r"\bcurrent\b"))
    text = page.locator(".pg-column .pg-out").first.inner_text()

    page.reload()
    expect(page.locator("[data-field=connection]")).to_have_text("Connected.")
    page.get_by_role("button", name="the cat ate", exact=True).click()
    expect(page.get_by_label("Prompt")).to_have_value("the cat ate")
    expect(page.get_by_label("Seed")).to_have_value("42")
    expect(page.locator(".pg-column .pg-out").first).to_have_text(text)
    page.locator(".pg-column .pg-token").first.hover()
    expect(page.locator("[data-role=inspector]")).to_contain_text("p (model)")

    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Delete “the cat ate”").click()
    expect(saved).to_have_count(0)
    page.reload()
    expect(page.locator(".pg-conv", has_text="the cat ate")).to_have_count(0)


def _focused(page, attribute):
    return page.evaluate(f"document.activeElement.getAttribute('{attribute}')")


def test_it_works_by_keyboard_alone(page, stack, keyboard_version):
    sign_in(page, stack)
    page.goto(stack.url + "/playground/")
    expect(page.locator("[data-field=connection]")).to_have_text("Connected.")
    stop = page.get_by_role("button", name="Stop")
    expect(stop).to_be_disabled()  # and it looks it: not the red of an active Stop
    assert stop.evaluate("b => getComputedStyle(b).backgroundColor") != "rgb(179, 38, 30)"
    page.get_by_label("Model version").select_option(label="browser-keys v1 · Candidate")
    page.get_by_label("Temperature").fill("0")
    page.get_by_label("Max new tokens").fill("1000")
    # Everything the status line says before the first token, in order.
    page.evaluate("""() => { window.said = [];
        const el = document.querySelector('[data-field=progress]');
        new MutationObserver(() => window.said.push(el.textContent)).observe(el, {childList: true, characterData: true, subtree: true}); }""")

    page.get_by_label("Prompt").focus()
    page.keyboard.type("the")
    page.keyboard.press("Tab")
    assert _focused(page, "data-action") == "generate"
    page.keyboard.press("Enter")
    assert _focused(page, "data-action") == "stop"  # Generate is disabled now: focus moved on
    column = page.locator(".pg-column").first
    # Three tokens before Stop: the steps below move between them (a Stop right after the
    # first, on a loaded machine, left one token to move on).
    expect(column.locator(".pg-token").nth(2)).to_be_visible(timeout=20_000)
    page.keyboard.press("Enter")
    expect(column.locator("[data-stat=reason]")).to_have_text("cancelled", timeout=10_000)
    assert _focused(page, "data-action") == "generate"
    said = page.evaluate("window.said")
    assert said[:4] == ["Waiting for the inference worker…", "Preparing…", "Loading the model…",
                        "Generating…"]  # fmt: skip
    expect(page.locator("[data-field=progress]")).to_have_text("")

    # Tab reaches the answer (Stop is disabled, so skipped): its first token opens the inspector.
    page.keyboard.press("Tab")
    inspector = page.locator("[data-role=inspector]")
    assert _focused(page, "data-index") == "0"
    expect(inspector).to_be_visible()
    expect(inspector).to_contain_text("p (model)")
    page.keyboard.press("ArrowRight")
    assert _focused(page, "data-index") == "1"
    second = column.locator(".pg-token").nth(1).inner_text()
    expect(inspector.locator("strong")).to_have_text(json.dumps(second))
    page.keyboard.press("Escape")
    expect(inspector).to_be_hidden()

    # Enter goes into the alternatives; Enter on one branches from it.
    page.keyboard.press("ArrowRight")
    expect(inspector).to_be_visible()
    page.keyboard.press("Enter")
    assert _focused(page, "data-alt") == "0"
    page.keyboard.press("ArrowDown")
    assert _focused(page, "data-alt") == "1"
    chosen = json.loads(page.evaluate("document.activeElement.textContent"))
    kept = [column.locator(".pg-token").nth(i).inner_text() for i in range(2)]
    page.get_by_label("Max new tokens").evaluate("e => { e.value = '5'; }")
    page.keyboard.press("Enter")
    expect(column.locator("[data-stat=reason]")).to_have_text("max_new_tokens", timeout=20_000)
    tokens = column.locator(".pg-token")
    assert [tokens.nth(i).inner_text() for i in range(3)] == [*kept, chosen]
