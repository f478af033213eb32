"""GGUF import (lmcore/gguf_import.py): tiny random Llamas written as GGUF in every supported
type import with exactly the weights `transformers`' own GGUF loader dequantizes, compute its
logits and greedy tokens; the tokenizer encodes as `transformers`' tokenizer from the same
file; the chat template and end ids come along; bad files are refused, writing nothing."""

import json

import numpy as np
import pytest
import torch

from lmcore.checkpoint import load_checkpoint
from lmcore.errors import LmcoreError
from lmcore.gguf_import import import_gguf
from tests.gguf_files import write_llama_gguf
from tests.hf_models import hf_model

transformers = pytest.importorskip("transformers", reason="transformers is a dev dependency")
QTYPES = ("F32", "F16", "BF16", "Q8_0", "Q4_0", "Q4_1", "Q4_K", "Q6_K")
CHATML = ("{% for m in messages %}{{ '<|im_start|>' + m['role'] + '\\n' + m['content'] + "
          "'<|im_end|>\\n' }}{% endfor %}{% if add_generation_prompt %}"
          "{{ '<|im_start|>assistant\\n' }}{% endif %}")  # fmt: skip
TEXTS = [
    "the cat ate città 日本語 😀 perché così",
    "Hello, World! It's 2024: 3.14159 ≈ π, ½ and x² and ٣٤ (Arabic-Indic digits).",
    "  leading spaces\ttabs\r\nWindows lines\n\n\nand trailing   ",
    "don't we'll THEY'RE I'M you've ’curly’ «guillemets» — dashes…",
    "def f(x):\n    return x ** 2  # code 1234567890\n",
    "naïve e\u0301 🇮🇹 👩‍👩‍👧 Ελληνικά русский עברית 한국어 ไทย",
    "<|endoftext|> typed by a user stays text",
]


@pytest.fixture(scope="module")
def llama(small_tokenizer):
    """A random Llama 256 wide (K quants pack rows of 256), 2 layers, 4 heads, 2 KV heads."""
    return hf_model("llama-gqa", small_tokenizer.vocab_size, hidden_size=256,
                    intermediate_size=512)  # fmt: skip


def _hf_from_gguf(path):
    return transformers.AutoModelForCausalLM.from_pretrained(
        path.parent, gguf_file=path.name, dtype=torch.float32
    ).eval()


def _same_weights(ck, hf):
    """Every lmcore tensor equals the `transformers` one it stands for, bit for bit."""
    theirs = hf.state_dict()
    for name, ours in ck.model.state_dict().items():
        if name == "lm_head.weight" and ck.model_config.tie_weights:
            continue
        parts = {"attn.c_kv": ("self_attn.k_proj", "self_attn.v_proj")}
        block = name.split(".")
        if name.startswith("blocks."):
            i, rest = block[1], ".".join(block[2:])
            hf_names = {"ln_1.weight": ["input_layernorm"], "ln_2.weight": ["post_attention_layernorm"],
                        "attn.c_q.weight": ["self_attn.q_proj"], "attn.c_kv.weight": list(parts["attn.c_kv"]),
                        "attn.c_proj.weight": ["self_attn.o_proj"], "mlp.c_fc.weight": ["mlp.up_proj"],
                        "mlp.c_gate.weight": ["mlp.gate_proj"], "mlp.c_proj.weight": ["mlp.down_proj"]}[rest]  # fmt: skip
            expected = torch.cat([theirs[f"model.layers.{i}.{n}.weight"] for n in hf_names])
        else:
            expected = theirs[{"wte.weight": "model.embed_tokens.weight", "ln_f.weight": "model.norm.weight",
                               "lm_head.weight": "lm_head.weight"}[name]]  # fmt: skip
        assert torch.equal(ours, expected), name


@pytest.mark.parametrize("qtype", QTYPES)
def test_a_gguf_imports_as_transformers_loads_it(tmp_path, llama, small_tokenizer, qtype):
    path = write_llama_gguf(tmp_path / f"tiny-{qtype}.gguf", llama, small_tokenizer, qtype)
    summary = import_gguf(path, tmp_path / "ck")
    assert summary["params"] == llama.num_parameters()
    ck, hf = load_checkpoint(tmp_path / "ck"), _hf_from_gguf(path)
    _same_weights(ck, hf)
    stored = {v["dtype"] for v in _header(tmp_path / "ck").values()}
    assert stored == ({qtype} if qtype in ("F16", "BF16") else set()) | {"F32"}
    ids = torch.tensor([small_tokenizer.encode(" ".join(TEXTS[:2]))])
    with torch.no_grad():
        ours, theirs = ck.model(ids)[0], hf(ids).logits
    assert theirs.std() > 0.5  # spread-out logits: a wrong row order could not pass by luck
    assert (ours - theirs).abs().max().item() < 1e-4  # the same fp32 weights; kernels differ
    greedy = ck.model.generate(ids, 24, temperature=0)
    assert torch.equal(greedy, hf.generate(ids, max_new_tokens=24, do_sample=False,
                                           eos_token_id=None))  # fmt: skip


def _header(directory):
    raw = (directory / "model.safetensors").read_bytes()
    n = int.from_bytes(raw[:8], "little")
    header = json.loads(raw[8 : 8 + n])
    header.pop("__metadata__")
    return header


def test_tied_embeddings_import_once(tmp_path, small_tokenizer):
    tied = hf_model("llama-tied", small_tokenizer.vocab_size)
    path = write_llama_gguf(tmp_path / "tied.gguf", tied, small_tokenizer, "Q8_0")
    import_gguf(path, tmp_path / "ck")
    ck = load_checkpoint(tmp_path / "ck")
    assert ck.model_config.tie_weights and "lm_head.weight" not in _header(tmp_path / "ck")
    _same_weights(ck, _hf_from_gguf(path))


@pytest.mark.parametrize("pre", ["gpt-2", "llama-bpe", "smaug-bpe"])
def test_the_tokenizer_encodes_as_transformers_does(tmp_path, small_tokenizer, pre):
    small = hf_model("llama-gqa", small_tokenizer.vocab_size)
    path = write_llama_gguf(tmp_path / "t.gguf", small, small_tokenizer, pre=pre)
    import_gguf(path, tmp_path / "ck")
    ours = load_checkpoint(tmp_path / "ck").tokenizer
    theirs = transformers.AutoTokenizer.from_pretrained(tmp_path, gguf_file=path.name)
    from tests.lmcore.conftest import make_corpus_text

    texts = TEXTS[:-1] + make_corpus_text(80, seed=3).splitlines(keepends=True)
    for text in texts:
        assert ours.encode(text) == theirs.encode(text, add_special_tokens=False), text
        assert ours.decode(ours.encode(text)) == text
    # lmcore's contract: a special typed by a user is ordinary bytes (transformers matches it)
    assert ours.special_tokens["<|endoftext|>"] not in ours.encode(TEXTS[-1])


def test_smollm_splits_every_digit_as_llama_cpp_does(tmp_path, small_tokenizer):
    """llama.cpp's "smollm" isolates each \\p{N} first, as SmolLM's own tokenizer.json does
    with `Digits(individual_digits=True)`: a reference from `tokenizers` itself."""
    from tokenizers import pre_tokenizers

    small = hf_model("llama-gqa", small_tokenizer.vocab_size)
    path = write_llama_gguf(tmp_path / "t.gguf", small, small_tokenizer, pre="smollm")
    import_gguf(path, tmp_path / "ck")
    ours = load_checkpoint(tmp_path / "ck").tokenizer
    reference = pre_tokenizers.Sequence(
        [pre_tokenizers.Digits(individual_digits=True), pre_tokenizers.ByteLevel(False)]
    )
    for text in TEXTS:
        expected = [p for p, _ in reference.pre_tokenize_str(text)]
        assert [p for p, _ in ours._plain.pre_tokenizer.pre_tokenize_str(text)] == expected


def test_the_chat_template_specials_and_end_ids_come_along(tmp_path, small_tokenizer):
    small = hf_model("llama-gqa", small_tokenizer.vocab_size)
    ids = small_tokenizer.special_tokens
    specials = {"bos": ids["<|system|>"], "eos": ids["<|endoftext|>"], "eot": ids["<|end|>"],
                "padding": ids["<|endoftext|>"]}  # fmt: skip
    path = write_llama_gguf(tmp_path / "t.gguf", small, small_tokenizer, chat_template=CHATML,
                            specials=specials, add_bos=True)  # fmt: skip
    import_gguf(path, tmp_path / "ck")
    config = json.loads((tmp_path / "ck" / "config.json").read_text())
    assert config["chat_template"] == {
        "template": CHATML, "bos_token": "<|system|>", "eos_token": "<|endoftext|>",
        "pad_token": "<|endoftext|>", "end_ids": [ids["<|endoftext|>"], ids["<|end|>"]],
    }  # fmt: skip
    assert config["train"]["bos_token"] == ids["<|system|>"]  # add_bos_token: scoring starts so
    assert config["hf"]["token_ids"]["eos_token_id"] == [ids["<|endoftext|>"], ids["<|end|>"]]
    assert config["hf"]["tokenizer_config"]["chat_template"] == CHATML


def _break(kind, tmp_path, llama, tok):
    good = write_llama_gguf(tmp_path / "good.gguf", llama, tok, "Q8_0")
    path = tmp_path / "bad.gguf"
    if kind == "not gguf":
        path.write_text("config = {}\n")
    elif kind in ("truncated data", "truncated header"):
        data = good.read_bytes()
        path.write_bytes(data[: len(data) - 1000] if kind == "truncated data" else data[:5000])
    elif kind == "architecture":
        write_llama_gguf(path, llama, tok, arch="gpt2")
    elif kind == "quant type":
        write_llama_gguf(path, llama, tok, "Q5_0")
    elif kind == "sentencepiece":
        write_llama_gguf(path, llama, tok, tokenizer_model="llama")
    elif kind == "rope scaling":
        write_llama_gguf(path, llama, tok, extra={"rope_freqs.weight": np.ones(32, np.float32)})
    elif kind == "pre-tokenizer":
        write_llama_gguf(path, llama, tok, pre="qwen2")
    elif kind == "vocabulary":  # embeddings with 8 rows more than the tokenizer's tokens
        bigger = hf_model("llama-gqa", tok.vocab_size + 8, hidden_size=256, intermediate_size=512)
        write_llama_gguf(path, bigger, tok)
    return path


BAD = {
    "not gguf": "not a GGUF file (it does not start with 'GGUF')",
    "truncated data": "not a readable GGUF file (truncated or damaged: ",
    "truncated header": "not a readable GGUF file (truncated or damaged: ",
    "architecture": "unsupported architecture 'gpt2' (general.architecture); supported: 'llama'",
    "quant type": "tensor type Q5_0 is not supported; supported: F32, F16, BF16, Q8_0",
    "sentencepiece": "tokenizer 'llama' is not supported: only byte-level BPE",
    "pre-tokenizer": "pre-tokenizer 'qwen2' (tokenizer.ggml.pre) is not supported",
    "rope scaling": "rope scaling (rope_freqs.weight, Llama 3.1 style) is not supported",
    "vocabulary": "token_embd.weight is [408, 256], but the metadata and the tokenizer imply [400, 256]",
}


@pytest.mark.parametrize("kind", sorted(BAD))
def test_it_refuses_bad_input_with_a_clear_message_and_writes_nothing(
    tmp_path, llama, small_tokenizer, kind
):
    path = _break(kind, tmp_path, llama, small_tokenizer)
    out = tmp_path / "models" / "ck"
    with pytest.raises(LmcoreError) as error:
        import_gguf(path, out)
    assert BAD[kind] in str(error.value)
    assert not (tmp_path / "models").exists() or list((tmp_path / "models").iterdir()) == []
