"""The playground says when the chosen version barely trained, and says nothing otherwise."""

import pytest
from playwright.sync_api import expect

from tests.browser.helpers import make_tiny_version, sign_in

pytestmark = [pytest.mark.browser, pytest.mark.slow]

WARNING = "Barely trained: it made only 30 steps, because its step limit was 30."
SET_WARNING = """
from webapp.registry.models import ModelVersion
ModelVersion.objects.filter(name="browser-short").update(metrics={"warning": WARNING})
"""


def test_the_playground_shows_the_chosen_versions_warning(page, stack):
    for name in ("browser-short", "browser-fine"):
        make_tiny_version(stack, name)
    stack.manage("shell", "-c", SET_WARNING.replace("WARNING", repr(WARNING)))
    sign_in(page, stack)
    page.goto(stack.url + "/playground/")
    warning = page.locator("#version-warning")
    page.get_by_label("Model version").select_option(label="browser-short v1 · Candidate")
    expect(warning).to_be_visible()
    expect(warning).to_have_text(WARNING)
    page.get_by_label("Model version").select_option(label="browser-fine v1 · Candidate")
    expect(warning).to_be_hidden()
