"""The real SmolLM2-135M-Instruct Q4_1 GGUF (tests/smollm2.py) imports with the weights
`transformers` dequantizes from the same file, bit for bit; its logits agree, its tokenizer
encodes as `transformers`' does, and its greedy chat answers equal `transformers`' token for
token ("Paris" for France's capital)."""

import json

import pytest
import torch

from tests.conftest import IN_CI

pytestmark = pytest.mark.slow  # the real SmolLM2 dequantized by transformers: minutes
transformers = pytest.importorskip("transformers", reason="transformers is a dev dependency")
QUESTIONS = ["What is the capital of France?", "How many legs does a spider have?",
             "What is the chemical symbol for gold?"]  # fmt: skip
TEXTS = [
    "Hello, World! It's 2024: 3.14159, 1,000,000 and 42.",
    "  leading spaces\ttabs\r\nWindows lines\n\n\nand trailing   ",
    "don't we'll THEY'RE ’curly’ «guillemets» — naïve città 日本語 😀 🇮🇹",
    "def f(x):\n    return x ** 2  # code\n",
]  # the digits here are ASCII: see test_gguf_import's smollm test for the others


@pytest.fixture(scope="module")
def smol(tmp_path_factory):
    """(the GGUF, our imported checkpoint, transformers' model and tokenizer from the GGUF)."""
    from lmcore.checkpoint import load_checkpoint
    from lmcore.gguf_import import import_gguf
    from tests.smollm2 import gguf_path

    try:
        path = gguf_path()
    except RuntimeError as exc:  # no package index here
        if IN_CI:
            raise
        pytest.skip(f"SmolLM2 is not available: {exc}")
    out = tmp_path_factory.mktemp("smol") / "ck"
    import_gguf(path, out)
    hf = transformers.AutoModelForCausalLM.from_pretrained(
        path.parent, gguf_file=path.name, dtype=torch.float32
    ).eval()
    tokenizer = transformers.AutoTokenizer.from_pretrained(path.parent, gguf_file=path.name)
    return path, load_checkpoint(out), hf, tokenizer


def test_the_weights_are_what_transformers_dequantizes(smol):
    _, ck, hf, _ = smol
    theirs = hf.state_dict()
    ours = ck.model.state_dict()
    assert torch.equal(ours["wte.weight"], theirs["model.embed_tokens.weight"])
    for i in range(ck.model_config.n_layer):
        p = f"model.layers.{i}."
        kv = torch.cat(
            [theirs[p + "self_attn.k_proj.weight"], theirs[p + "self_attn.v_proj.weight"]]
        )
        assert torch.equal(
            ours[f"blocks.{i}.attn.c_q.weight"], theirs[p + "self_attn.q_proj.weight"]
        )
        assert torch.equal(ours[f"blocks.{i}.attn.c_kv.weight"], kv)
        assert torch.equal(
            ours[f"blocks.{i}.mlp.c_gate.weight"], theirs[p + "mlp.gate_proj.weight"]
        )


def test_the_tokenizer_and_template_are_the_files(smol):
    _, ck, _, tokenizer = smol
    for text in TEXTS:
        assert ck.tokenizer.encode(text) == tokenizer.encode(text, add_special_tokens=False)
    config = json.loads((ck.directory / "config.json").read_text())
    assert config["chat_template"]["template"] == tokenizer.chat_template
    assert config["chat_template"]["end_ids"] == [tokenizer.convert_tokens_to_ids("<|im_end|>")]


def test_logits_and_greedy_chat_answers_equal_transformers(smol, tmp_path, capsys):
    """`lmcore chat` renders with the template the import stored and stops at its end ids."""
    from lmcore.cli import main

    _, ck, hf, tokenizer = smol
    answers = []
    for question in QUESTIONS:
        messages = [{"role": "user", "content": question}]
        prompt = tokenizer.apply_chat_template(messages, add_generation_prompt=True,
                                               return_dict=False)  # fmt: skip
        ids = torch.tensor([prompt])
        with torch.no_grad():
            ours, theirs = ck.model(ids)[0], hf(ids).logits
        # The same fp32 weights (above); 30 layers of differently ordered fp32 sums move
        # logits whose spread is ~8 by under 1e-4 (7.8e-5 measured): 5e-4 leaves room for
        # other CPUs' kernels, and a wrong weight or layout moves them by whole units.
        assert theirs.std() > 4 and (ours - theirs).abs().max().item() < 5e-4
        expected = hf.generate(ids, max_new_tokens=32, do_sample=False)[0, len(prompt) :].tolist()
        (tmp_path / "m.json").write_text(json.dumps({"messages": messages}))
        code = main(["chat", "--checkpoint", str(ck.directory), "--messages",
                     str(tmp_path / "m.json"), "--temperature", "0", "--max-new-tokens", "32",
                     "--device", "cpu"])  # fmt: skip
        answer = json.loads(capsys.readouterr().out)
        assert code == 0 and answer["prompt_tokens"] == len(prompt)
        assert [t["id"] for t in answer["tokens"]] == expected
        answers.append(answer["reply"])
    assert "Paris" in answers[0], answers


def test_it_goes_out_again_for_transformers_and_as_gguf(smol, tmp_path):
    from gguf import GGUFReader

    from lmcore.gguf_export import export_gguf
    from lmcore.hf_export import export_hf

    path, ck, hf, tokenizer = smol
    export_hf(ck.directory, tmp_path / "hf")
    back = transformers.AutoModelForCausalLM.from_pretrained(tmp_path / "hf").eval()
    back_tokenizer = transformers.AutoTokenizer.from_pretrained(tmp_path / "hf")
    assert type(back).__name__ == "LlamaForCausalLM"
    assert back_tokenizer.chat_template == tokenizer.chat_template
    assert back.generation_config.eos_token_id == tokenizer.convert_tokens_to_ids("<|im_end|>")
    ids = torch.tensor([tokenizer.encode(TEXTS[0])])
    with torch.no_grad():
        assert torch.equal(back(ids).logits, hf(ids).logits)  # the very same weights
    export_gguf(ck.directory, tmp_path / "smol.Q8_0.gguf", "Q8_0")
    original, ours = GGUFReader(path), GGUFReader(tmp_path / "smol.Q8_0.gguf")
    for key in ("tokenizer.chat_template", "tokenizer.ggml.tokens", "tokenizer.ggml.merges",
                "tokenizer.ggml.pre", "tokenizer.ggml.eos_token_id", "llama.block_count"):  # fmt: skip
        assert ours.fields[key].contents() == original.fields[key].contents(), key
    assert sorted(t.name for t in ours.tensors) == sorted(t.name for t in original.tensors)
