"""A student looks inside a model: types a prompt, selects a token, opens a head, changes the
temperature and sees the surviving set change; by mouse and by keyboard. The page shows the
numbers `python -m lmcore anatomy` prints for the same prompt."""

import json
import subprocess
import sys
import urllib.parse

import pytest
import torch
from playwright.sync_api import expect

from lmcore.config import SamplingParams
from lmcore.sampling import BatchSampler
from tests.browser.helpers import add_versions, sign_in

pytestmark = [pytest.mark.browser, pytest.mark.slow]
PROMPT = "the mouse ate the cheese and the cat ate the mouse"


@pytest.fixture(scope="module")
def checkpoint(stack, tiny_checkpoint):
    """A version of its own (the playground's tests make theirs): its directory."""
    return add_versions(stack, ("browser-anatomy", tiny_checkpoint, False))[0]


def cli(checkpoint, position):
    cmd = [sys.executable, "-m", "lmcore", "anatomy", "--checkpoint", checkpoint, "--text",
           PROMPT, "--position", str(position), "--json", "--device", "cpu"]  # fmt: skip
    return json.loads(subprocess.run(cmd, capture_output=True, text=True, check=True).stdout)


def survivors(logits, **settings):
    sampler = BatchSampler.for_params([SamplingParams(**settings)], torch.device("cpu"))
    kept = sampler.sampling_logits(torch.tensor([logits]), None)
    return int(torch.isfinite(kept).sum())


def fmt(x, digits=4):
    return f"{x:.{digits}f}"


def test_a_student_walks_through_the_anatomy(page, stack, checkpoint, tmp_path):
    sign_in(page, stack)
    page.get_by_role("navigation", name="Sections").get_by_role("link", name="Anatomy").click()
    page.get_by_label("Model version").select_option(label="browser-anatomy v1 · Candidate")
    page.get_by_label("Prompt", exact=True).fill(PROMPT)
    page.get_by_role("button", name="Look inside").click()
    tokens = page.get_by_role("listbox", name="Tokens of the text").get_by_role("option")
    expected = cli(checkpoint, 3)
    expect(tokens).to_have_count(len(expected["tokens"]), timeout=30_000)
    last = len(expected["tokens"]) - 1
    expect(tokens.nth(last)).to_have_attribute("aria-selected", "true")

    # Select a token: the lens shows the CLI's numbers for that position.
    tokens.nth(3).click()
    expect(page.locator("[data-field=selected]")).to_contain_text("Position 3:")
    lens = page.locator("[data-role=lens] tbody tr")
    expect(lens).to_have_count(len(expected["layers"]))
    at = expected["lens"][3]
    final = lens.last.locator("td")
    expect(final.nth(0)).to_contain_text(fmt(at["p"][-1][0]))
    expect(final.last).to_have_text(f"{at['next_rank'][-1]} · {fmt(at['next_p'][-1])}")
    next_loss = expected["tokens"][4]["loss"]
    expect(page.locator("[data-field=loss]")).to_contain_text(f"a loss of {fmt(next_loss, 3)} nats")

    # Open a head: its bars carry the CLI's attention weights of position 3.
    page.get_by_role("gridcell", name="block 2 head 1").click()
    head = page.locator("[data-role=head]")
    expect(head).to_be_visible()
    expect(head.locator("h3")).to_contain_text("Block 2, head 1: what position 3 (")
    weights = [fmt(w) for w in expected["focus"]["attention"][1][0]]
    expect(head.locator(".an-val")).to_have_text(weights)

    # Change the temperature: the surviving set changes, exactly as lmcore's sampler filters.
    logits = expected["focus"]["logits"]
    page.get_by_label("Top-p (probability mass)").fill("0.5")
    survivors_stat = page.locator("[data-stat=survivors]")
    n_hot = survivors(logits, temperature=1.0, top_p=0.5)
    expect(survivors_stat).to_have_text(f"{n_hot} of {len(logits)}")
    page.get_by_label("Temperature").fill("3")
    n_flat = survivors(logits, temperature=3.0, top_p=0.5)
    assert n_flat > n_hot
    expect(survivors_stat).to_have_text(f"{n_flat} of {len(logits)}")
    page.get_by_label("Top-k (tokens)").fill("3")
    expect(survivors_stat).to_have_text(
        f"{survivors(logits, temperature=3.0, top_p=0.5, top_k=3)} of {len(logits)}"
    )
    page.get_by_label("Temperature").fill("0")
    expect(survivors_stat).to_have_text(f"1 of {len(logits)}")
    page.screenshot(path=str(tmp_path / "anatomy.png"), full_page=True)


def test_it_works_from_the_keyboard(page, stack, checkpoint):
    sign_in(page, stack)
    page.goto(stack.url + "/anatomy/")
    page.get_by_label("Model version").select_option(label="browser-anatomy v1 · Candidate")
    page.get_by_label("Prompt", exact=True).fill(PROMPT)
    page.get_by_label("Prompt", exact=True).press("Tab")
    page.keyboard.press("Enter")  # the focused "Look inside" button
    tokens = page.get_by_role("listbox", name="Tokens of the text").get_by_role("option")
    expect(tokens.first).to_be_visible(timeout=30_000)
    n = tokens.count()
    page.keyboard.press("Tab")  # into the token list: the selected (last) token takes focus
    expect(tokens.nth(n - 1)).to_be_focused()
    page.keyboard.press("ArrowLeft")
    expect(tokens.nth(n - 2)).to_be_focused()
    expect(tokens.nth(n - 2)).to_have_attribute("aria-selected", "true")
    page.keyboard.press("Home")
    expect(tokens.first).to_have_attribute("aria-selected", "true")
    expect(page.locator("[data-field=selected]")).to_contain_text("Position 0:")
    page.keyboard.press("End")
    expect(tokens.nth(n - 1)).to_have_attribute("aria-selected", "true")
    # Into the head grid: arrows move between heads, Enter opens one, Escape closes it.
    first = page.get_by_role("gridcell", name="block 1 head 1")
    first.focus()
    page.keyboard.press("ArrowDown")
    cell = page.get_by_role("gridcell", name="block 2 head 1")
    expect(cell).to_be_focused()
    page.keyboard.press("ArrowRight")
    page.keyboard.press("Enter")
    head = page.locator("[data-role=head]")
    expect(head.locator("h3")).to_contain_text("Block 2, head 2")
    expect(head).to_be_focused()
    page.keyboard.press("Escape")
    expect(head).to_be_hidden()
    expect(page.get_by_role("gridcell", name="block 2 head 2")).to_be_focused()


def test_a_link_looks_inside_at_once(page, stack, checkpoint):
    """/anatomy/?model_version=ID&text=...: what the form sends when clicked before its script
    ran (a slow page), and a link to share: the page opens on it and runs the analysis."""
    sign_in(page, stack)
    page.goto(stack.url + "/anatomy/")
    option = page.locator("#an-model option", has_text="browser-anatomy v1")
    query = urllib.parse.urlencode({"model_version": option.get_attribute("value"), "text": PROMPT})
    page.goto(f"{stack.url}/anatomy/?{query}")
    tokens = page.get_by_role("listbox", name="Tokens of the text").get_by_role("option")
    expect(tokens).to_have_count(len(cli(checkpoint, 3)["tokens"]), timeout=30_000)
    expect(page.get_by_label("Prompt", exact=True)).to_have_value(PROMPT)
    expect(page.get_by_label("Model version")).to_have_value(option.get_attribute("value"))
