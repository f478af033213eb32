"""The seed the playground shows after a random answer, typed back, gives the same text: it is
exact all the way (below 2^53, where a browser's numbers are), which 63-bit seeds were not."""

import pytest
from playwright.sync_api import expect

from tests.browser.helpers import make_tiny_version, sign_in

pytestmark = [pytest.mark.browser, pytest.mark.slow]


@pytest.fixture(scope="module")
def seed_version(stack):
    return make_tiny_version(stack, "browser-seeds", quiet_specials=True)  # long random texts


def answer(page):
    page.get_by_role("button", name="Generate").click()
    column = page.locator(".pg-column").first
    expect(column.locator("[data-stat=reason]")).not_to_have_text("–", timeout=30_000)
    expect(page.get_by_role("button", name="Generate")).to_be_enabled()
    return column.locator(".pg-out").inner_text(), column.locator("[data-stat=seed]").inner_text()


def test_the_shown_seed_gives_the_same_text_again(page, stack, seed_version):
    sign_in(page, stack)
    page.goto(stack.url + "/playground/")
    expect(page.locator("[data-field=connection]")).to_have_text("Connected.")
    page.get_by_label("Model version").select_option(label=seed_version)
    page.get_by_label("Prompt").fill("the mouse")
    page.get_by_label("Temperature").fill("1")
    page.get_by_label("Max new tokens").fill("40")
    page.get_by_label("Seed").fill("")  # random: the worker picks one and reports it

    texts = {}
    for _ in range(3):  # three random seeds: each shown exactly, each repeats its text
        text, seed = answer(page)
        assert seed.isdigit() and int(seed) < 2**53, seed
        page.get_by_label("Seed").fill(seed)
        again, same_seed = answer(page)
        assert (again, same_seed) == (text, seed)
        texts[seed] = text
        page.get_by_label("Seed").fill("")
    assert len(set(texts.values())) > 1  # random seeds give different texts

    # A seed the browser cannot hold exactly is refused before it is sent.
    page.get_by_label("Seed").fill(str(2**53 + 1))
    page.get_by_role("button", name="Generate").click()
    expect(page.locator("[data-field=error]")).to_have_text(
        "Seed: a whole number from 0 to 9007199254740991, or empty for a random one."
    )
