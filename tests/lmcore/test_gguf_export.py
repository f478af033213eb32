"""Out again (lmcore/gguf_export.py, lmcore/hf_export.py): lmcore's own model and a Llama
import go out as GGUF (F16, Q8_0) that `gguf`'s reader reads back with the same tensors,
metadata and template, and that lmcore's GGUF import (and, for Llama, `transformers`) loads
with the same logits; a fine-tuned import downloads for `transformers` as Llama with its
template and end ids."""

import json
import subprocess
import sys

import numpy as np
import pytest
import torch

from lmcore.chat_config import carried, lmcore_template
from lmcore.chat_template import LMCORE_TEMPLATE
from lmcore.checkpoint import load_checkpoint, save_checkpoint
from lmcore.errors import LmcoreError
from lmcore.gguf_export import export_gguf
from lmcore.gguf_import import import_gguf
from lmcore.hf_export import export_hf
from tests.gguf_files import write_llama_gguf
from tests.hf_models import hf_model

transformers = pytest.importorskip("transformers", reason="transformers is a dev dependency")
TEXT = "the cat ate città 日本語 😀 perché così don't 2024"
CHATML = ("{% for m in messages %}{{ '<|im_start|>' + m['role'] + '\\n' + m['content'] + "
          "'<|end|>\\n' }}{% endfor %}{% if add_generation_prompt %}"
          "{{ '<|im_start|>assistant\\n' }}{% endif %}")  # fmt: skip


@pytest.fixture(scope="module")
def lmcore_checkpoint(small_tokenizer, tmp_path_factory):
    """lmcore's own block (QK-norm, relu², embedding norm) with a soft cap and an eps."""
    from lmcore.model import GPT, GPTConfig

    cfg = GPTConfig(vocab_size=small_tokenizer.vocab_size, context=64, n_layer=2, n_head=4,
                    n_kv_head=2, d_model=64, tie_weights=False, logit_softcap=15.0,
                    norm_eps=1e-6)  # fmt: skip
    torch.manual_seed(0)
    model = GPT(cfg).eval()
    directory = tmp_path_factory.mktemp("lm") / "ck"
    return save_checkpoint(directory, model, small_tokenizer)


@pytest.fixture(scope="module")
def llama_checkpoint(small_tokenizer, tmp_path_factory):
    """A tiny Llama GGUF with a template and end ids, imported."""
    root = tmp_path_factory.mktemp("llama")
    ids = small_tokenizer.special_tokens
    specials = {"bos": ids["<|endoftext|>"], "eos": ids["<|endoftext|>"], "eot": ids["<|end|>"]}
    model = hf_model("llama-gqa", small_tokenizer.vocab_size)
    path = write_llama_gguf(root / "tiny.gguf", model, small_tokenizer, "Q8_0",
                            chat_template=CHATML, specials=specials)  # fmt: skip
    import_gguf(path, root / "ck")
    return root / "ck"


def _rounded(weights: torch.Tensor, qtype: str) -> torch.Tensor:
    """What a weight becomes in `qtype` and back."""
    if weights.ndim == 1:
        return weights
    if qtype == "F16":
        return weights.half().float()
    from gguf import GGMLQuantizationType
    from gguf.quants import dequantize, quantize

    q = quantize(weights.numpy(), GGMLQuantizationType.Q8_0)
    return torch.from_numpy(dequantize(q, GGMLQuantizationType.Q8_0))


def _fields(path):
    from gguf import GGUFReader

    reader = GGUFReader(path)
    return reader, {k: f.contents() for k, f in reader.fields.items()}


@pytest.mark.parametrize("qtype", ["F16", "Q8_0"])
def test_lmcore_s_own_model_round_trips_through_gguf(tmp_path, lmcore_checkpoint, qtype):
    summary = export_gguf(lmcore_checkpoint, tmp_path / "m.gguf", qtype)
    assert summary["architecture"] == "lmcore"
    reader, fields = _fields(tmp_path / "m.gguf")
    original = load_checkpoint(lmcore_checkpoint)
    cfg = original.model_config.to_dict()
    assert fields["general.architecture"] == "lmcore"
    assert {k[7:]: v for k, v in fields.items() if k.startswith("lmcore.")} == {
        k: v for k, v in cfg.items() if v is not None
    }
    assert {t.tensor_type.name for t in reader.tensors} == {qtype}
    assert fields["tokenizer.chat_template"] == LMCORE_TEMPLATE  # lmcore's chat tokens
    import_gguf(tmp_path / "m.gguf", tmp_path / "back")
    back = load_checkpoint(tmp_path / "back")
    assert back.model_config.to_dict() == cfg
    assert back.tokenizer.encode(TEXT) == original.tokenizer.encode(TEXT)
    assert back.tokenizer.special_tokens == original.tokenizer.special_tokens
    expected = {k: _rounded(v, qtype) for k, v in original.model.state_dict().items()}
    for name, tensor in back.model.state_dict().items():
        assert torch.equal(tensor, expected[name]), name
    config = json.loads((tmp_path / "back" / "config.json").read_text())
    assert config["chat_template"] == lmcore_template(original.tokenizer).to_config()


@pytest.mark.parametrize("qtype", ["F16", "Q8_0"])
def test_a_llama_import_goes_out_as_a_llama_gguf(tmp_path, llama_checkpoint, small_tokenizer,
                                                 qtype):  # fmt: skip
    export_gguf(llama_checkpoint, tmp_path / "m.gguf", qtype)
    reader, fields = _fields(tmp_path / "m.gguf")
    ids = small_tokenizer.special_tokens
    assert fields["general.architecture"] == "llama" and fields["llama.block_count"] == 2
    assert fields["tokenizer.chat_template"] == CHATML
    assert (fields["tokenizer.ggml.eos_token_id"], fields["tokenizer.ggml.eot_token_id"]) == (
        ids["<|endoftext|>"], ids["<|end|>"])  # fmt: skip
    norms = {t.name for t in reader.tensors if t.name.endswith("norm.weight")}
    assert {t.tensor_type.name for t in reader.tensors if t.name not in norms} == {qtype}
    assert {t.tensor_type.name for t in reader.tensors if t.name in norms} == {"F32"}
    import_gguf(tmp_path / "m.gguf", tmp_path / "back")
    original, back = load_checkpoint(llama_checkpoint), load_checkpoint(tmp_path / "back")
    for name, tensor in back.model.state_dict().items():
        assert torch.equal(tensor, _rounded(original.model.state_dict()[name], qtype)), name
    hf = transformers.AutoModelForCausalLM.from_pretrained(
        tmp_path, gguf_file="m.gguf", dtype=torch.float32
    ).eval()
    x = torch.tensor([small_tokenizer.encode(TEXT)])
    with torch.no_grad():
        assert (hf(x).logits - back.model(x)[0]).abs().max().item() < 1e-4


def _fine_tune(parent, out):
    """A few real training steps on the parent's weights, saved as lmcore saves a fine-tune:
    with what it carries of its parent's config.json (lmcore.chat_config.carried)."""
    ck = load_checkpoint(parent)
    model = ck.model.train()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05)
    x = torch.tensor([ck.tokenizer.encode(TEXT * 2)])
    for _ in range(3):
        logits = model(x[:, :-1])[0]
        loss = torch.nn.functional.cross_entropy(logits.flatten(0, 1), x[0, 1:])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    parent_config = json.loads((parent / "config.json").read_text())
    save_checkpoint(out, model.eval(), ck.tokenizer, step=3,
                    carried=carried(parent_config, ck.tokenizer))  # fmt: skip
    return load_checkpoint(out)


def test_a_fine_tuned_import_downloads_for_transformers_with_its_template(
    tmp_path, llama_checkpoint, small_tokenizer
):
    tuned = _fine_tune(llama_checkpoint, tmp_path / "tuned")
    export_hf(tmp_path / "tuned", tmp_path / "hf")
    model = transformers.AutoModelForCausalLM.from_pretrained(tmp_path / "hf").eval()
    tokenizer = transformers.AutoTokenizer.from_pretrained(tmp_path / "hf")
    ids = small_tokenizer.special_tokens
    assert type(model).__name__ == "LlamaForCausalLM"
    assert tokenizer.chat_template == CHATML
    assert model.generation_config.eos_token_id == [ids["<|endoftext|>"], ids["<|end|>"]]
    prompt = tokenizer.apply_chat_template([{"role": "user", "content": "ciao"}],
                                           add_generation_prompt=True, return_dict=False)  # fmt: skip
    x = torch.tensor([prompt])
    with torch.no_grad():
        ours, theirs = tuned.model(x)[0], model(x).logits
        parent = load_checkpoint(llama_checkpoint).model(x)[0]
    assert (ours - theirs).abs().max().item() < 1e-4
    assert (parent - theirs).abs().max().item() > 1e-2  # the fine-tuned weights went out
    export_gguf(tmp_path / "tuned", tmp_path / "tuned.gguf", "F16")
    assert _fields(tmp_path / "tuned.gguf")[1]["tokenizer.chat_template"] == CHATML


def test_the_cli_writes_a_gguf(tmp_path, lmcore_checkpoint):
    out = tmp_path / "m.gguf"
    done = subprocess.run(
        [sys.executable, "-m", "lmcore", "export", "--checkpoint", str(lmcore_checkpoint),
         "--out", str(out), "--gguf", "Q8_0"], capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["type"] == "Q8_0"
    assert _fields(out)[1]["general.file_type"] == 7


def test_it_refuses_what_gguf_cannot_hold_and_writes_nothing(tmp_path, lmcore_checkpoint):
    with pytest.raises(LmcoreError, match="GGUF type 'Q4_0' is not offered"):
        export_gguf(lmcore_checkpoint, tmp_path / "a.gguf", "Q4_0")
    odd = tmp_path / "odd"
    odd.mkdir()
    for name in ("config.json", "model.safetensors"):
        (odd / name).write_bytes((lmcore_checkpoint / name).read_bytes())
    spec = json.loads((lmcore_checkpoint / "tokenizer.json").read_text())
    spec["pre_tokenizer"]["pretokenizers"][0]["pattern"]["Regex"] = r"\s+|\S+"
    (odd / "tokenizer.json").write_text(json.dumps(spec))
    with pytest.raises(LmcoreError, match="pre-tokenizer has no GGUF"):
        export_gguf(odd, tmp_path / "b.gguf", "F16")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["odd"]


def test_q8_0_falls_back_to_f16_for_rows_it_cannot_block(tmp_path, small_tokenizer):
    from lmcore.model import GPT, GPTConfig

    cfg = GPTConfig(vocab_size=small_tokenizer.vocab_size, context=16, n_layer=1, n_head=2,
                    d_model=64, mlp_hidden=40)  # fmt: skip
    save_checkpoint(tmp_path / "ck", GPT(cfg), small_tokenizer)
    export_gguf(tmp_path / "ck", tmp_path / "m.gguf", "Q8_0")
    reader, _ = _fields(tmp_path / "m.gguf")
    kinds = {t.name: t.tensor_type.name for t in reader.tensors}
    assert kinds["blk.0.ffn_down.weight"] == "F16"  # rows of 40
    assert kinds["blk.0.ffn_up.weight"] == "Q8_0"  # rows of 64
    assert np.isfinite(reader.tensors[0].data).all()
