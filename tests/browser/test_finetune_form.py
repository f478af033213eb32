"""The fine-tune form's method choice in a real browser (the launcher's stack, chromium): the
LoRA fields appear only for LoRA, and the trainable parameters follow the rank and matrices,
equal to lmcore's own count."""

import uuid

import pytest
from playwright.sync_api import expect

from tests.browser.helpers import sign_in

pytestmark = [pytest.mark.browser, pytest.mark.slow]


@pytest.fixture(scope="module")
def imported(stack, tmp_path_factory):
    """A tiny Llama (gated MLP: all seven matrices) imported with manage.py import_model."""
    from lmcore.hf_import import gpt_config
    from lmcore.tokenizer import TokenizerConfig, train_tokenizer
    from tests.hf_models import save_hf_model
    from tests.webapp.fixtures_ml import corpus_text

    root = tmp_path_factory.mktemp("lora-form")
    (root / "text.txt").write_text(corpus_text(), encoding="utf-8")
    tokenizer = train_tokenizer([root / "text.txt"], TokenizerConfig(vocab_size=300))
    hf = save_hf_model("llama-gqa", tokenizer, root / "llama")
    name = f"lora-form-{uuid.uuid4().hex[:8]}"
    stack.manage("import_model", str(root / "llama"), "--name", name)
    return name, gpt_config(hf.config.to_dict()), hf.num_parameters()


def test_the_lora_fields_and_the_trainable_parameters_follow_the_choice(page, stack, imported):
    from lmcore.config import LoRAConfig

    name, model, params = imported
    sign_in(page, stack)
    page.goto(stack.url + "/models/")
    page.get_by_role("link", name=f"{name} v1").click()
    page.get_by_role("link", name="Fine-tune for chat").click()
    trainable = page.locator("[data-estimate=trainable]")
    expect(trainable).to_have_text(f"{params:,}")  # Full: every weight
    expect(page.get_by_label("LoRA rank")).to_be_hidden()

    page.get_by_label("LoRA: train a small adapter").check()
    expect(page.get_by_label("LoRA rank")).to_be_visible()
    every = LoRAConfig(r=8).num_params(model)  # rank 8, all seven matrices ticked
    expect(trainable).to_have_text(f"{every:,}")
    expect(page.locator("[data-estimate=share]")).to_have_text(f"{100 * every / params:.2f} %")
    page.get_by_label("LoRA rank").fill("2")
    for label in ["k: keys", "o: attention output", "gate: MLP gate", "up: MLP input",
                  "down: MLP output"]:  # fmt: skip
        page.get_by_label(label).uncheck()
    expect(trainable).to_have_text(f"{LoRAConfig(r=2, targets=['q', 'v']).num_params(model):,}")
    page.get_by_label("Full: train every weight").check()
    expect(page.get_by_label("LoRA rank")).to_be_hidden()
    expect(trainable).to_have_text(f"{params:,}")
