"""Staff import a transformers model through the page: a chunked upload that survives a
dropped connection, then the version plays, and downloads again for transformers."""

import json
import re
import uuid
import zipfile

import pytest
from playwright.sync_api import expect

from tests.browser.helpers import sign_in

pytestmark = [pytest.mark.browser, pytest.mark.slow]
transformers = pytest.importorskip("transformers", reason="transformers is a dev dependency")
CHUNK = 64 * 1024


@pytest.fixture(scope="module")
def model_zip(tmp_path_factory):
    from lmcore.tokenizer import TokenizerConfig, train_tokenizer
    from tests.hf_models import save_hf_model
    from tests.webapp.fixtures_ml import corpus_text

    root = tmp_path_factory.mktemp("hf")
    (root / "text.txt").write_text(corpus_text(), encoding="utf-8")
    tokenizer = train_tokenizer([root / "text.txt"], TokenizerConfig(vocab_size=300))
    hf = save_hf_model("llama-gqa", tokenizer, root / "tiny-llama")
    with zipfile.ZipFile(root / "tiny-llama.zip", "w") as zf:
        for path in (root / "tiny-llama").iterdir():
            zf.write(path, f"tiny-llama/{path.name}")
    return root / "tiny-llama.zip", hf


def test_staff_import_a_zip_through_a_dropped_connection_and_download_it_back(
    page, stack, model_zip, tmp_path
):
    import torch

    archive, hf = model_zip
    name = f"llama-{uuid.uuid4().hex[:8]}"
    sign_in(page, stack)
    page.goto(stack.url + "/models/")

    def small_chunks(route):
        response = route.fetch()
        body = response.json()
        body["chunk_bytes"] = CHUNK
        route.fulfill(response=response, body=json.dumps(body))

    offsets = []

    def drop_third(route):
        if route.request.method == "PUT":
            offsets.append(int(route.request.url.rsplit("offset=", 1)[1]))
            if len(offsets) == 3:
                route.abort("connectionreset")
                return
        route.continue_()

    page.route(re.compile(r"/models/uploads/\?"), small_chunks)
    page.route(re.compile(r"/models/uploads/\d+/"), drop_third)
    page.get_by_label("Model name").fill(name)
    page.get_by_label("Zip or GGUF file").set_input_files(archive)
    page.get_by_role("button", name="Upload and import").click()
    expect(page.locator("#import-state")).to_have_text("Imported: open the new version",
                                                       timeout=60_000)  # fmt: skip
    assert offsets[2] == offsets[3] == 2 * CHUNK  # the dropped chunk was sent again
    page.get_by_role("link", name="open the new version").click()
    expect(page.get_by_role("heading", name=re.compile(f"{name} v1"))).to_be_visible()
    expect(page.get_by_text("Imported from a LlamaForCausalLM model")).to_be_visible()

    with page.expect_download() as download:
        page.get_by_role("link", name="Download for transformers").click()
    download.value.save_as(tmp_path / "back.zip")
    zipfile.ZipFile(tmp_path / "back.zip").extractall(tmp_path)
    back = transformers.AutoModelForCausalLM.from_pretrained(tmp_path / f"{name}-v1-hf").eval()
    ids = torch.tensor([[3, 50, 120, 7, 299, 41]])
    with torch.no_grad():
        assert torch.equal(back(ids).logits, hf(ids).logits)


def test_staff_import_a_gguf_and_download_it_as_gguf(page, stack, tmp_path):
    from gguf import GGUFReader

    from lmcore.tokenizer import TokenizerConfig, train_tokenizer
    from tests.gguf_files import write_llama_gguf
    from tests.hf_models import hf_model
    from tests.webapp.fixtures_ml import corpus_text

    (tmp_path / "text.txt").write_text(corpus_text(), encoding="utf-8")
    tokenizer = train_tokenizer([tmp_path / "text.txt"], TokenizerConfig(vocab_size=300))
    path = write_llama_gguf(tmp_path / "tiny.Q8_0.gguf", hf_model("llama-gqa", 300), tokenizer,
                            "Q8_0", chat_template="{{ messages[0]['content'] }}")  # fmt: skip
    name = f"gguf-{uuid.uuid4().hex[:8]}"
    sign_in(page, stack)
    page.goto(stack.url + "/models/")
    page.get_by_label("Model name").fill(name)
    page.get_by_label("Zip or GGUF file").set_input_files(path)
    page.get_by_role("button", name="Upload and import").click()
    expect(page.locator("#import-state")).to_have_text("Imported: open the new version",
                                                       timeout=60_000)  # fmt: skip
    page.get_by_role("link", name="open the new version").click()
    expect(page.get_by_text("Imported from a llama GGUF (F32, Q8_0) model")).to_be_visible()
    with page.expect_download() as download:
        page.get_by_role("link", name="Q8_0").click()
    assert download.value.suggested_filename == f"{name}-v1.Q8_0.gguf"
    download.value.save_as(tmp_path / "back.gguf")
    reader = GGUFReader(tmp_path / "back.gguf")
    assert reader.fields["general.architecture"].contents() == "llama"
    assert reader.fields["tokenizer.chat_template"].contents() == "{{ messages[0]['content'] }}"
