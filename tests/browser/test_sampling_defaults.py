"""A version's own sampling defaults (its generation_config.json) fill the playground's
settings when it is chosen, as they fill an API request's; choosing a version without any puts
the page's own defaults back."""

import uuid

import pytest
from playwright.sync_api import expect

from tests.browser.helpers import make_tiny_version, sign_in

pytestmark = [pytest.mark.browser, pytest.mark.slow]
pytest.importorskip("transformers", reason="transformers is a dev dependency")


@pytest.fixture(scope="module")
def versions(stack, tmp_path_factory):
    """An imported chat model whose generation_config.json says temperature 0.7, top_p 0.9,
    and one of lmcore's own, which says nothing."""
    from tests.hf_models import save_chatml_model
    from tests.webapp.fixtures_ml import corpus_text

    root = tmp_path_factory.mktemp("defaults")
    (root / "text.txt").write_text(corpus_text(), encoding="utf-8")
    save_chatml_model(root / "text.txt", root / "chatml", [{"role": "user", "content": "hi"}])
    imported = f"defaults-{uuid.uuid4().hex[:8]}"
    stack.manage("import_model", str(root / "chatml"), "--name", imported)
    plain = f"plain-{uuid.uuid4().hex[:8]}"
    make_tiny_version(stack, plain)
    return imported, plain


def option_value(page, name: str) -> str:
    return page.locator("#pg-model option", has_text=f"{name} v1").get_attribute("value")


def test_choosing_a_version_starts_from_its_own_sampling_defaults(page, stack, versions):
    imported, plain = versions
    sign_in(page, stack)
    page.goto(stack.url + "/playground/")
    temperature = page.get_by_label("Temperature")
    top_p = page.get_by_label("Top-p (probability mass)")
    page.get_by_label("Model version").select_option(option_value(page, imported))
    expect(temperature).to_have_value("0.7")
    expect(top_p).to_have_value("0.9")
    expect(page.get_by_label("Top-k (tokens)")).to_have_value("0")  # it does not set top_k

    page.get_by_label("Model version").select_option(option_value(page, plain))
    expect(temperature).to_have_value("0.8")  # the page's own defaults, back
    expect(top_p).to_have_value("1")
