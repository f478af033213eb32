"""Export to `transformers` (lmcore/hf_export.py): the directory loads with the Auto classes,
no remote code, and computes what lmcore computes."""

import json
import subprocess
import sys

import pytest
import torch

from lmcore.checkpoint import save_checkpoint
from lmcore.hf_export import export_hf
from lmcore.model import GPT, GPTConfig
from lmcore.tokenizer import SPECIAL_TOKENS, TokenizerConfig, train_tokenizer

transformers = pytest.importorskip("transformers", reason="transformers is a dev dependency")

TRICKY = [
    "e\u0301 vs é, ﬁ ligature, Ǆ, ß→SS",
    "👩\u200d👩\u200d👧 🇮🇹🏳️\u200d🌈 😀😀",
    "日本語のテキスト、中文，한국어",
    "مرحبا بالعالم  שלום नमस्ते สวัสดี",
    "tabs\tand  two  spaces\u00a0nbsp\u200bzwsp\ufeffbom",
    "lines\r\nwindows\n\n\nunix \n trailing   ",
    "1234567 3.14159 don't we'll I'M",
    "<|user|> typed by a user is text",
]


@pytest.fixture(scope="module")
def tokenizers(corpus_file):
    chat_specials = [*SPECIAL_TOKENS, *[t for t in ["<|end|>"] if t not in SPECIAL_TOKENS]]
    base = [t for t in SPECIAL_TOKENS if t != "<|end|>"]
    return {
        "base": train_tokenizer([corpus_file], TokenizerConfig(400, special_tokens=base)),
        "chat": train_tokenizer([corpus_file], TokenizerConfig(400, special_tokens=chat_specials)),
    }


def _exported(tmp_path, tokenizer, tie):
    cfg = GPTConfig(vocab_size=tokenizer.vocab_size, context=160, n_layer=2, n_head=4,
                    n_kv_head=2, d_model=64, tie_weights=tie)  # fmt: skip
    torch.manual_seed(1)
    model = GPT(cfg).eval()
    with torch.no_grad():
        model.lm_head.weight.mul_(10.0)  # peaked distributions: greedy far from ties
    save_checkpoint(tmp_path / "ck", model, tokenizer)
    export_hf(tmp_path / "ck", tmp_path / "hf")
    return model, tmp_path / "hf"


@pytest.mark.parametrize("tie", [True, False], ids=["tied", "untied"])
@pytest.mark.parametrize("kind", ["base", "chat"])
def test_it_exports_what_transformers_loads_and_computes_the_same(tmp_path, tokenizers, kind, tie):
    tokenizer = tokenizers[kind]
    model, directory = _exported(tmp_path, tokenizer, tie)
    hf = transformers.AutoModelForCausalLM.from_pretrained(directory).eval()
    hf_tok = transformers.AutoTokenizer.from_pretrained(directory)
    assert type(hf).__name__ == "NanoChatForCausalLM"
    assert hf.lm_head.weight.data_ptr() == hf.model.embed_tokens.weight.data_ptr() or not tie

    ids = torch.tensor([tokenizer.encode(" ".join(TRICKY[:4]))[:50]])
    with torch.no_grad():
        ours, theirs = model(ids)[0], hf(ids).logits
    assert (ours - theirs).abs().max().item() < 1e-4
    greedy = model.generate(ids, 100, temperature=0)
    hf_greedy = hf.generate(ids, max_new_tokens=100, do_sample=False, eos_token_id=None)
    assert greedy.shape == (1, 150)
    assert torch.equal(greedy, hf_greedy)

    for text in TRICKY[:-1]:
        assert hf_tok(text)["input_ids"] == tokenizer.encode(text), text
        assert hf_tok(text, add_special_tokens=False)["input_ids"] == tokenizer.encode(text)
    # Where they differ, by design: transformers turns typed special-token text into the
    # special's id, lmcore keeps user text as bytes (lmcore/tokenizer.py).
    assert hf_tok(TRICKY[-1])["input_ids"][0] == tokenizer.special_id("<|user|>")


def test_a_chat_export_carries_lmcores_chat_template(tmp_path, tokenizers):
    from lmcore.chat import render

    tokenizer = tokenizers["chat"]
    _, directory = _exported(tmp_path, tokenizer, True)
    hf_tok = transformers.AutoTokenizer.from_pretrained(directory)
    messages = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Ciao 😀"},
                {"role": "assistant", "content": "Ciao!"}, {"role": "user", "content": "e tu?"}]  # fmt: skip
    ids = hf_tok.apply_chat_template(messages, add_generation_prompt=True, tokenize=True)
    ids = ids["input_ids"] if not isinstance(ids, list) else ids
    assert ids == render(tokenizer, messages, generation_prompt=True).ids
    s = tokenizer.special_id
    generation = json.loads((directory / "generation_config.json").read_text())
    assert generation["eos_token_id"] == [s("<|endoftext|>"), s("<|end|>")]
    base_dir = _exported(tmp_path / "base", tokenizers["base"], True)[1]
    assert "chat_template" not in json.loads((base_dir / "tokenizer_config.json").read_text())


def test_the_cli_exports_and_refuses_a_non_empty_directory(tmp_path, gen_checkpoint):
    run = [sys.executable, "-m", "lmcore", "export", "--checkpoint", str(gen_checkpoint)]
    done = subprocess.run([*run, "--out", str(tmp_path / "hf")], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert sorted(summary["files"]) == ["config.json", "generation_config.json",
                                        "model.safetensors", "tokenizer.json",
                                        "tokenizer_config.json"]  # fmt: skip
    config = json.loads((tmp_path / "hf" / "config.json").read_text())
    assert config["model_type"] == "nanochat" and config["rms_norm_eps"] == 2.0**-23
    again = subprocess.run([*run, "--out", str(tmp_path / "hf")], capture_output=True, text=True)
    assert again.returncode == 1 and "exists and is not empty" in again.stderr
