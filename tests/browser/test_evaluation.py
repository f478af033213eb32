"""A person evaluates two versions in the browser: a held-out cloze task and bits per byte on a
corpus, the progress bar moving and each result landing live, then the leaderboard sorted by
a task and one result's items."""

import re

import pytest
from playwright.sync_api import expect

from tests.browser.helpers import add_versions, leaderboard_cell, sign_in

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def noisy_copy(checkpoint, directory):
    """The tiny checkpoint with every weight moved by N(0, 1): sure of itself and wrong, so its
    bits per byte are far above the untouched one's."""
    import torch

    from lmcore.checkpoint import load_checkpoint, save_checkpoint

    ck = load_checkpoint(checkpoint)
    with torch.random.fork_rng():
        torch.manual_seed(1)
        with torch.no_grad():
            for p in ck.model.parameters():
                p.add_(torch.randn_like(p))
    return save_checkpoint(directory, ck.model, ck.tokenizer)


# ~330 kB: a held-out tail of ~70 cloze passages and ~11,000 tokens, some seconds per version.
MAKE_CORPUS = """
import tempfile
from pathlib import Path
from django.contrib.auth import get_user_model
from tests.webapp.fixtures_ml import corpus_text
from webapp.corpora.actions import do_import_corpus
from webapp.corpora.models import Corpus
admin = get_user_model().objects.get(username="admin")
if not Corpus.objects.filter(owner=admin, name="NAME").exists():
    source = Path(tempfile.mkdtemp()) / "NAME.txt"
    source.write_text(corpus_text(lines=8000, seed=25) + "\\nNAME\\n", encoding="utf-8")
    do_import_corpus(admin, source, name="NAME")
"""
# What the run page shows live, kept in sessionStorage: the page reloads when the run ends.
WATCH_RUN = """
document.addEventListener("DOMContentLoaded", () => {
  const run = document.getElementById("run"), bar = document.querySelector("#job-status progress");
  if (!run || !bar) return;
  const read = (key, empty) => JSON.parse(sessionStorage.getItem(key) ?? JSON.stringify(empty));
  const store = (key, value) => sessionStorage.setItem(key, JSON.stringify(value));
  if (read("firstStatus", null) === null) store("firstStatus", run.dataset.status);
  store("loads", read("loads", 0) + 1);
  new MutationObserver(() => store("progress", [...read("progress", []), Number(bar.value)]))
    .observe(bar, {attributes: true, attributeFilter: ["value"]});
  const body = document.querySelector("#results tbody");
  new MutationObserver(() => store("liveRows", body.querySelectorAll("[data-result]").length))
    .observe(body, {childList: true});
});
"""


@pytest.fixture(scope="module")
def prepared(stack, tiny_checkpoint, tmp_path_factory):
    noisy = noisy_copy(tiny_checkpoint, tmp_path_factory.mktemp("noisy") / "checkpoint")
    add_versions(stack, ("eval-b-tiny", tiny_checkpoint, False), ("eval-a-noisy", noisy, False))
    stack.manage("shell", "-c", MAKE_CORPUS.replace("NAME", "evalwords"))


def test_it_evaluates_live_then_sorts_the_leaderboard_and_opens_an_item(page, stack, prepared):
    sign_in(page, stack)
    page.add_init_script(WATCH_RUN)
    page.get_by_role("navigation", name="Sections").get_by_role("link", name="Evaluate").click()
    page.get_by_label("Name", exact=True).fill("browser check")
    for name in MINE:
        page.locator("[data-field=versions]").get_by_label(name, exact=True).check()
    page.locator("[data-field=cloze_corpora]").get_by_label("evalwords").check()
    page.locator("[data-field=bpb_corpora]").get_by_label("evalwords").check()
    page.get_by_label("Cloze items").fill("60")
    page.get_by_role("button", name="Evaluate").click()
    expect(page).to_have_url(re.compile(r"/evaluate/\d+/$"), timeout=30_000)

    # The page reloads itself when the run ends, to show the rows as the server has them.
    page.wait_for_function("JSON.parse(sessionStorage.getItem('loads')) >= 2", timeout=240_000)
    expect(page.locator("#job-status .badge")).to_have_text("Succeeded")
    seen = {k: page.evaluate(f"JSON.parse(sessionStorage.getItem('{k}'))")
            for k in ("firstStatus", "progress", "liveRows")}  # fmt: skip
    assert seen["firstStatus"] in ("queued", "running"), seen  # what followed came live
    assert any(0 < p < 1 for p in seen["progress"]), seen
    assert seen["liveRows"] == 4, seen  # 2 versions x (cloze, bits per byte), as they landed
    expect(page.locator("#results tbody tr[data-result]")).to_have_count(4)

    page.get_by_role("link", name="Evaluate", exact=True).first.click()
    page.get_by_role("link", name="leaderboard", exact=True).click()
    assert _order(page) == MINE  # by name: the noisy one first
    page.locator("#leaderboard").get_by_role("link", name=BPB).click()
    expect(page).to_have_url(re.compile(r"sort=bpb"))
    expect(page.locator("#leaderboard th[aria-sort=ascending]")).to_contain_text(BPB)
    assert _order(page) == MINE[::-1]  # the lowest bits per byte first
    bpb = [float(leaderboard_cell(page, name, BPB).inner_text()) for name in MINE[::-1]]
    assert bpb[0] < bpb[1], bpb

    leaderboard_cell(page, "eval-b-tiny v1", CLOZE).get_by_role("link").click()
    expect(page.get_by_role("heading", level=1)).to_have_text(f"{CLOZE} · eval-b-tiny v1")
    item = page.locator("section.item").first
    expect(item.locator("pre.context")).not_to_be_empty()
    expect(item.locator("tbody tr")).to_have_count(4)  # the real continuation and 3 others
    expect(item).to_contain_text("gold")
    expect(item.locator("tr.pick")).to_have_count(1)


MINE = ["eval-a-noisy v1", "eval-b-tiny v1"]
BPB, CLOZE = "bits per byte · evalwords", "cloze · evalwords"


def _order(page) -> list[str]:
    """Where this test's two versions stand on the leaderboard (other tests add rows)."""
    names = page.locator("#leaderboard tbody tr td:first-child").all_inner_texts()
    return [n.split("/", 1)[1] for n in names if n.split("/", 1)[1] in MINE]
