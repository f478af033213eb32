"""A person runs a blind battle in the browser: two answers stream in unnamed, the vote reveals
who answered, the leaderboard counts it, and Your votes withdraws it."""

import re

import pytest
from playwright.sync_api import expect

from tests.browser.helpers import add_versions, sign_in

pytestmark = [pytest.mark.browser, pytest.mark.slow]


@pytest.fixture(scope="module")
def arena_versions(stack, tiny_checkpoint):
    add_versions(stack, ("arena-left", tiny_checkpoint, False),
                 ("arena-right", tiny_checkpoint, False))  # fmt: skip


def test_it_votes_and_reveals_the_names(page, stack, arena_versions):
    sign_in(page, stack)
    page.get_by_role("navigation", name="Sections").get_by_role("link", name="Arena").click()
    page.get_by_label("Board").select_option("completion")
    page.get_by_label("Prompt").fill("the mouse")
    page.get_by_label("First model").select_option(label="arena-left v1 · base")
    page.get_by_label("Second model").select_option(label="arena-right v1 · base")
    page.get_by_label("Max new tokens").fill("12")
    page.get_by_role("button", name="Start battle").click()
    expect(page).to_have_url(re.compile(r"/arena/battles/[0-9a-f-]{36}/$"))

    vote = page.get_by_role("button", name="B is better")
    expect(vote).to_be_enabled(timeout=30_000)  # both answers have ended and are kept
    for side in ("0", "1"):
        expect(page.locator(f"[data-ended='{side}']")).not_to_have_text("–")
    html = page.content()  # the page as the browser holds it, answers streamed in
    assert "arena-left" not in html and "arena-right" not in html
    vote.click()
    reveal = page.locator("#arena-reveal")
    expect(reveal).to_be_focused()
    expect(reveal.locator("[data-field=outcome]")).to_have_text("B is better")
    names = {reveal.locator(f"[data-reveal={s}]").inner_text() for s in "AB"}
    assert names == {"arena-left v1", "arena-right v1"}
    expect(page.locator("[data-role=vote]")).to_have_count(0)

    page.get_by_role("link", name="Completion leaderboard").click()
    expect(page.locator("#ratings")).to_contain_text("arena-left v1")
    expect(page.locator("#ratings")).to_contain_text("arena-right v1")

    page.goto(stack.url + "/arena/votes/")
    row = page.locator("#votes tbody tr", has_text="“the mouse”").first
    expect(row).to_contain_text("B is better")
    row.get_by_role("button", name="Withdraw").click()
    expect(page.locator(".message.success")).to_contain_text("is withdrawn")
