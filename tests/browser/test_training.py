"""A person trains a tokenizer and a model from the pages and watches the chart grow."""

import re

import pytest
from playwright.sync_api import expect

from tests.browser.helpers import sign_in
from tests.webapp.fixtures_ml import corpus_text

pytestmark = [pytest.mark.browser, pytest.mark.slow]


@pytest.fixture(scope="module")
def corpus_in_stack(stack, tmp_path_factory):
    source = tmp_path_factory.mktemp("text") / "words.txt"
    source.write_text(corpus_text(lines=1500), encoding="utf-8")
    stack.manage("import_corpus", "--user", "admin", "--name", "words", str(source))


def test_it_trains_a_tokenizer_then_a_model_and_draws_the_curves(page, stack, corpus_in_stack):
    sign_in(page, stack)
    page.get_by_role("navigation", name="Sections").get_by_role("link", name="Tokenizers").click()
    page.get_by_label("Name").fill("words-tok")
    page.get_by_label("words", exact=True).check()
    page.get_by_label("Vocab size").fill("320")
    page.get_by_role("button", name="Train tokenizer").click()
    expect(page).to_have_url(re.compile(r"/tokenizers/\d+/$"))
    # The page follows the run live and reloads itself into the inspector when it is done.
    expect(page.get_by_role("heading", name="Tokenize this text")).to_be_visible(timeout=60_000)
    expect(page.locator("#tokenize-tokens .token").first).to_be_visible()
    expect(page.locator("#trace-steps li").first).to_contain_text("bytes")
    # Numbers read like everywhere else; the long vocabulary waits, collapsed, until asked for.
    expect(page.locator("table.corpora tbody td").nth(1)).to_have_text(
        re.compile(r"^\d{1,3}(,\d{3})+$")
    )
    expect(page.locator("#vocab-rows tr")).to_have_count(0)
    page.locator("#vocab summary").click()
    expect(page.locator("#vocab-rows tr")).to_have_count(25)
    expect(page.get_by_role("button", name="Previous")).to_be_disabled()

    page.get_by_role("navigation", name="Sections").get_by_role("link", name="Training").click()
    page.get_by_label("Name").fill("tiny-words")
    page.get_by_label("words", exact=True).check()
    page.get_by_label("Tokenizer").select_option(label="words-tok (320 tokens)")
    # A two-minute run with no "Eval every": it evaluates about ten times, so validation shows
    # while it runs, not at the end (long enough to still run on a loaded machine; Cancel ends
    # it).
    for label, value in [("Layers", "1"), ("Heads", "2"), ("Width", "32"), ("Context", "32"),
                         ("Batch size", "8"), ("Max minutes", "2")]:  # fmt: skip
        page.get_by_label(label, exact=True).fill(value)
    page.get_by_label("Device", exact=True).select_option("cpu")
    expect(page.locator('[data-estimate="tokens_per_step"]')).to_have_text("256")
    page.get_by_role("button", name="Launch").click()
    expect(page).to_have_url(re.compile(r"/training/\d+/$"))
    expect(page.locator('[data-empty="bpb"]')).to_contain_text("Waiting for the first evaluation")

    # Never silent: from the launch on, the page says what the run is doing.
    phase = page.locator('#run [data-field="phase"]')
    expect(phase).to_be_visible()
    expect(phase).to_have_text(re.compile(r"^(Starting|Preparing the data|Training)"))
    step = page.locator('[data-live="step"]')
    expect(step).not_to_have_text("–", timeout=60_000)
    first = int(step.inner_text().replace(",", ""))
    progress = page.locator("#job-status progress")
    page.wait_for_function("() => document.querySelector('#job-status progress').value > 0")
    moved_from = progress.evaluate("p => p.value")
    expect(page.locator('[data-live="val_bpb"]')).not_to_have_text("–", timeout=60_000)
    expect(page.locator("#job-status .badge")).to_have_text("Running")  # still going
    expect(page.locator('[data-empty="bpb"]')).to_be_hidden()
    expect(page.locator("#samples li").first).to_be_visible()
    page.wait_for_function(
        "first => Number(document.querySelector('[data-live=step]').textContent.replace(/,/g, '')) > first",
        arg=first,
        timeout=60_000,
    )
    page.wait_for_function(
        "from => document.querySelector('#job-status progress').value > from", arg=moved_from
    )
    assert page.locator("#job-status progress").evaluate("p => p.value") < 1
    expect(phase).to_have_text(re.compile(r"^(Training: step [\d,]+…|Evaluating|Saving)"))
    # uPlot drew a path for the train loss: the chart grows as metrics arrive.
    assert page.locator("#loss-chart canvas").count() == 1
    page.get_by_role("button", name="Cancel").click()
    expect(page.locator("#job-status .badge")).to_have_text(re.compile("Cancelled"), timeout=60_000)
    expect(page.get_by_role("button", name="Resume")).to_be_visible()
    # A finished run shows what it took, not a stale ETA and the last window's speed.
    expect(page.locator("dt", has_text="Duration")).to_be_visible()
    expect(page.locator('[data-live="eta_s"]')).to_have_text(
        re.compile(r"^(\d+ min )?\d+ s \(training (\d+ min )?\d+ s\)$")
    )
    expect(phase).to_be_hidden()
    expect(page.locator("dt", has_text="Tokens/s (average)")).to_be_visible()
    # The last evaluation's samples (one per prompt) in view, the earlier ones collapsed.
    expect(page.locator("#samples li")).to_have_count(2)
    expect(page.locator("#earlier-samples summary")).to_be_visible()
    page.screenshot(path=str(stack.var_dir / "training.png"), full_page=True)
