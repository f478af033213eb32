"""An imported model chats with its own template and stops at its own end ids: greedy replies
of `lmcore chat` and `lmcore sample` equal `transformers`' `generate(do_sample=False)` after
`apply_chat_template`, token for token (a tiny random Llama with a ChatML template)."""

import json

import pytest
import torch
import transformers

from lmcore.chat_config import template_for, text_end_ids
from lmcore.checkpoint import load_checkpoint
from lmcore.cli import main
from lmcore.hf_import import import_hf
from lmcore.tokenizer import Tokenizer, TokenizerConfig, train_tokenizer
from tests.hf_models import CHATML, save_chatml_model, save_hf_model

MESSAGES = [{"role": "system", "content": "Be brief."},
            {"role": "user", "content": "What is the capital of France?"}]  # fmt: skip


@pytest.fixture(scope="module")
def imported(corpus_file, tmp_path_factory):
    """A random Llama with a ChatML template, imported (tests/hf_models.py).
    Returns (the transformers model, the lmcore tokenizer, prompt ids, the checkpoint, end ids)."""
    root = tmp_path_factory.mktemp("chatml")
    model, hf_tok, end_ids = save_chatml_model(corpus_file, root / "src", MESSAGES)
    prompt = list(hf_tok.apply_chat_template(MESSAGES, add_generation_prompt=True,
                                             tokenize=True, return_dict=False))  # fmt: skip
    import_hf(root / "src", root / "ck")
    return model, Tokenizer.load(root / "ck"), prompt, root / "ck", end_ids


def _greedy(model, prompt, eos, n):
    ids = torch.tensor([prompt])
    out = model.generate(ids, max_new_tokens=n, do_sample=False, eos_token_id=eos,
                         pad_token_id=0)  # fmt: skip
    return out[0, len(prompt) :].tolist()


def test_the_import_keeps_the_template_end_ids_and_defaults(imported):
    _, tok, prompt, ck, end_ids = imported
    checkpoint = load_checkpoint(ck)
    template = template_for(checkpoint.config, checkpoint.tokenizer)
    assert template.template == CHATML and template.eos_token == "<|im_end|>"
    assert list(template.end_ids) == end_ids
    assert text_end_ids(checkpoint.config, checkpoint.tokenizer) == end_ids
    assert checkpoint.config["hf"]["generation_config"]["eos_token_id"] == end_ids
    assert checkpoint.config["generation_defaults"] == {"temperature": 0.7, "top_p": 0.9}


def test_lmcore_chat_replies_as_transformers_generate(imported, tmp_path, capsys):
    model, tok, prompt, ck, end_ids = imported
    expected = _greedy(model, prompt, end_ids, 30)
    assert expected[-1] == end_ids[1] and len(expected) < 30  # it stopped at an imported end id
    (tmp_path / "m.json").write_text(json.dumps({"messages": MESSAGES}))
    code = main(["chat", "--checkpoint", str(ck), "--messages", str(tmp_path / "m.json"),
                 "--temperature", "0", "--max-new-tokens", "30", "--device", "cpu"])  # fmt: skip
    out = capsys.readouterr()
    assert code == 0 and out.err == ""  # an imported chat model: no "not fine-tuned" warning
    answer = json.loads(out.out)
    assert answer["prompt_tokens"] == len(prompt)
    assert [t["id"] for t in answer["tokens"]] == expected  # the end token is shown, as there
    assert answer["reason"] == "end_of_text"

    code = main(["sample", "--checkpoint", str(ck), "--chat", "--prompt", MESSAGES[1]["content"],
                 "--temperature", "0", "--max-new-tokens", "30", "--json", "--device", "cpu"])  # fmt: skip
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    user_only = list(transformers.AutoTokenizer.from_pretrained(ck.parent / "src")
                     .apply_chat_template(MESSAGES[1:], add_generation_prompt=True,
                                          tokenize=True, return_dict=False))  # fmt: skip
    want = _greedy(model, user_only, end_ids, 30)
    assert code == 0 and [x["id"] for x in lines[:-1]] == want


def test_a_plain_prompt_stays_bytes_and_ends_at_the_imported_end_ids(imported, capsys):
    model, tok, _, ck, end_ids = imported
    typed = "<|im_start|>assistant\n"
    code = main(["sample", "--checkpoint", str(ck), "--prompt", typed, "--temperature", "0",
                 "--max-new-tokens", "40", "--json", "--device", "cpu"])  # fmt: skip
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    expected = _greedy(model, tok.encode(typed), end_ids, 40)  # bytes, not the special
    assert code == 0 and [x["id"] for x in lines[:-1]] == expected
    assert lines[-1]["reason"] == ("end_of_text" if expected[-1] in end_ids else "max_new_tokens")


def test_a_model_without_a_template_is_refused_by_chat(corpus_file, tmp_path, capsys):
    tok = train_tokenizer([corpus_file], TokenizerConfig(vocab_size=300,
                                                         special_tokens=["<|endoftext|>"]))  # fmt: skip
    save_hf_model("llama-gqa", tok, tmp_path / "src")
    assert import_hf(tmp_path / "src", tmp_path / "ck")["chat"] is False
    (tmp_path / "m.json").write_text(json.dumps({"messages": MESSAGES}))
    code = main(["chat", "--checkpoint", str(tmp_path / "ck"), "--messages",
                 str(tmp_path / "m.json"), "--device", "cpu"])  # fmt: skip
    assert code == 1 and "has no chat template" in capsys.readouterr().err
    code = main(["sample", "--checkpoint", str(tmp_path / "ck"), "--chat", "--prompt", "hi"])
    assert code == 1 and "no chat template" in capsys.readouterr().err


def test_unset_sampling_flags_take_the_models_defaults(imported, capsys):
    *_, ck, _ = imported

    def ids(*flags):
        argv = ["sample", "--checkpoint", str(ck), "--prompt", "the cat", "--seed", "5",
                "--max-new-tokens", "24", "--no-stop-at-end", "--json", "--device", "cpu"]  # fmt: skip
        assert main([*argv, *flags]) == 0
        return [json.loads(line)["id"] for line in capsys.readouterr().out.splitlines()[:-1]]

    own = ids()  # generation_config.json: temperature 0.7, top_p 0.9
    assert own == ids("--temperature", "0.7", "--top-p", "0.9")
    assert own != ids("--temperature", "1.5", "--top-p", "1")
