"""What a newcomer sees laid out as meant: Cancel beside "Delete run…", the Models page's
Status filter by its table, the whole model name in the playground's dropdown, one font size
for every control, a styled file picker, grouped figures ("1,572,864" parameters, token bytes
"53 68 65"), and "(empty reply)" for a fine-tuning sample that is empty."""

import re

import pytest
from playwright.sync_api import expect

from tests.browser.helpers import make_tiny_version, sign_in

pytestmark = [pytest.mark.browser, pytest.mark.slow]

# A running chat fine-tuning with an evaluation and two samples, one of them empty, as the
# worker stores them (its worker is elsewhere: the page only reads the rows).
MAKE_RUN = """
from django.contrib.auth import get_user_model
from webapp.tokenization.models import TokenizerRun
from webapp.training.models import RunEvent, TrainingRun
admin = get_user_model().objects.get(username="admin")
tok = TokenizerRun.objects.create(owner=admin, name="layout-tok", vocab_size=300,
                                  status="succeeded")
run = TrainingRun.objects.create(
    owner=admin, name="layout-run", tokenizer=tok, preset="tiny", status="running",
    params=1572864, model_config={"n_layer": 2, "n_head": 2, "d_model": 32, "context": 64},
    train_config={"init_from": "/elsewhere", "chat": True, "device": "cpu", "batch_size": 8})
RunEvent.objects.create(run=run, type="run.metrics", step=10,
                        data={"val_loss": 2.5, "val_bpb": 3.5, "val_tokens": 64, "corpora": {}})
RunEvent.objects.create(run=run, type="run.sample", step=10, data={"prompt": "say red", "text": ""})
RunEvent.objects.create(run=run, type="run.sample", step=10,
                        data={"prompt": "say blue", "text": "blue"})
print(run.pk)
"""


NAME = "a-model-with-a-rather-long-name-to-show-whole"


@pytest.fixture(scope="module")
def data(stack):  # its figure as in issue 28, where the label ended "6.680 bpl"
    label = make_tiny_version(stack, NAME, chat=True, val_bpb=6.68)
    run_id = stack.manage("shell", "-c", MAKE_RUN).strip().splitlines()[-1]
    return label, run_id


def same_line(a, b) -> bool:
    """Two elements share a line: their vertical extents overlap by most of the smaller."""
    box_a, box_b = a.bounding_box(), b.bounding_box()
    top, bottom = max(box_a["y"], box_b["y"]), min(box_a["y"] + box_a["height"],
                                                   box_b["y"] + box_b["height"])  # fmt: skip
    return bottom - top > 0.6 * min(box_a["height"], box_b["height"])


CONTROL_SIZES = """() => [...document.querySelectorAll('button, input, select, textarea')]
    .filter((el) => el.offsetParent !== null)
    .map((el) => getComputedStyle(el).fontSize)"""

# The selected option's text, its width in the select's font, and the room it has.
FITS = """(select) => {
    const style = getComputedStyle(select);
    const context = document.createElement('canvas').getContext('2d');
    context.font = `${style.fontWeight} ${style.fontSize} ${style.fontFamily}`;
    const shown = select.options[select.selectedIndex].text;
    const room = select.clientWidth - parseFloat(style.paddingLeft) - parseFloat(style.paddingRight) - 24;
    return [shown, context.measureText(shown).width, room];
}"""


def test_a_newcomer_sees_it_laid_out_as_meant(page, stack, data):
    label, run_id = data
    page.set_viewport_size({"width": 1280, "height": 900})
    sign_in(page, stack)
    body_size = page.evaluate("getComputedStyle(document.body).fontSize")

    page.goto(f"{stack.url}/training/{run_id}/")
    cancel = page.get_by_role("button", name="Cancel")
    delete = page.get_by_role("link", name="Delete run…")
    expect(cancel).to_be_visible()
    assert same_line(cancel, delete)
    expect(page.locator("p.hint").first).to_contain_text("1,572,864 parameters")
    samples = page.locator("#samples pre")
    expect(samples).to_have_count(2)
    expect(page.locator("#samples pre.empty")).to_have_text("(empty reply)")
    assert set(page.evaluate(CONTROL_SIZES)) == {body_size}

    page.goto(f"{stack.url}/models/")
    card = page.locator("#model-import").bounding_box()
    status = page.get_by_label("Status").bounding_box()
    table = page.locator("#versions").bounding_box()
    assert card["y"] + card["height"] < status["y"] < table["y"] < status["y"] + 120
    expect(page.locator("#versions")).to_contain_text(label.split(" v1")[0])
    picker = page.evaluate("""() => getComputedStyle(document.getElementById('import-file'),
                                                     '::file-selector-button').backgroundColor""")
    assert picker == page.evaluate(  # the accent of every button, not the browser's grey
        "getComputedStyle(document.getElementById('import-start')).backgroundColor"
    )
    assert set(page.evaluate(CONTROL_SIZES)) == {body_size}

    page.goto(f"{stack.url}/playground/")
    expect(page.locator("[data-field=connection]")).to_have_text("Connected.")
    for mode in ("Complete", "Chat"):
        page.get_by_label(mode, exact=True).check()
        page.get_by_label("Model version").select_option(label=label)
        option, width, room = page.get_by_label("Model version").evaluate(FITS)
        assert option == label and option.endswith(" · 6.680 bpb")  # measured whole, bpb too
        assert width <= room, (
            f"{mode}: {option!r} needs {width:.0f} px, the dropdown has {room:.0f}"
        )
    assert set(page.evaluate(CONTROL_SIZES)) == {body_size}

    # A token's bytes, grouped per byte: in the playground's inspector...
    page.get_by_label("Complete", exact=True).check()
    page.get_by_label("Prompt").fill("the mouse")
    page.get_by_label("Max new tokens").fill("8")
    page.get_by_role("button", name="Generate").click()
    column = page.locator(".pg-column").first
    expect(column.locator("[data-stat=reason]")).not_to_have_text("–", timeout=30_000)
    column.locator(".pg-token").first.focus()  # it may be a byte of a character: no box
    shown = page.locator("[data-role=inspector] code").first
    expect(shown).to_have_text(re.compile(r"^[0-9a-f]{2}( [0-9a-f]{2})*$"))
    # ... and on Anatomy, where "the" (a token of the model's tokenizer) is 74 68 65.
    page.goto(f"{stack.url}/anatomy/")
    page.get_by_label("Model version").select_option(label=f"{NAME} v1 · Candidate")
    page.get_by_label("Prompt", exact=True).fill("the mouse ate the cheese")
    page.get_by_role("button", name="Look inside").click()
    first = page.get_by_role("listbox", name="Tokens of the text").get_by_role("option").first
    expect(first).to_have_attribute("title", re.compile(r"· bytes 74 68 65 "), timeout=30_000)
