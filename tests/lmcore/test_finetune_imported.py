"""Fine-tuning an imported chat model (a random Llama with a ChatML template): the loss mask
comes from its own template, the result keeps the template, the import's record and end ids,
chats through them, and goes back out to `transformers` as a Llama with its template.
Templates that cannot give a loss mask, and models without one, are refused clearly."""

import json
import shutil

import pytest
import torch
import transformers

from lmcore.chat import render
from lmcore.chat_config import template_for
from lmcore.chatdata import load_chat_data
from lmcore.checkpoint import load_checkpoint
from lmcore.cli import main
from lmcore.hf_export import export_hf
from lmcore.hf_import import import_hf
from lmcore.tokenizer import TokenizerConfig, train_tokenizer
from tests.hf_models import save_chatml_model, save_hf_model
from tests.lmcore.test_finetune import COLOURS, conversation, lines, write_jsonl

MESSAGES = [{"role": "user", "content": "say red"}]


@pytest.fixture(scope="module")
def imported(corpus_file, tmp_path_factory):
    root = tmp_path_factory.mktemp("ft-import")
    save_chatml_model(corpus_file, root / "src", MESSAGES)
    import_hf(root / "src", root / "ck")
    return root


def test_an_imported_chat_model_fine_tunes_on_its_own_template(imported, tmp_path, capsys):
    data = write_jsonl(tmp_path / "colours.jsonl", [conversation(i) for i in range(60)])
    code = main(["train", "--init-from", str(imported / "ck"), "--chat-data", str(data),
                 "--out", str(tmp_path / "ft"), "--max-steps", "80", "--eval-every", "40",
                 "--lr", "1e-2", "--batch-size", "8", "--device", "cpu"])  # fmt: skip
    assert code == 0
    events = lines(capsys)
    parent = load_checkpoint(imported / "ck")
    template = template_for(parent.config, parent.tokenizer)

    # The mask: each reply and what ends it in ChatML ("<|im_end|>\n"), nothing else.
    chat = load_chat_data(tmp_path / "ft" / "chat-data")
    ids, mask = chat.conversation("val", 0)
    targets = [t for t, m in zip(ids.tolist(), mask.tolist(), strict=True) if m]
    assert parent.tokenizer.decode(targets) == "red<|im_end|>\n"  # held out: conversation 54
    assert ids.tolist() == render(parent.tokenizer, conversation(54)["messages"],
                                  template=template).ids  # fmt: skip

    evals = [e for e in events if e["event"] == "eval"]
    assert evals[0]["val_loss"] > evals[-1]["val_loss"]
    samples = [e for e in events if e["event"] == "sample"]
    assert samples[-1]["prompt"].startswith("say ") and samples[-1]["text"] in COLOURS

    ft = load_checkpoint(tmp_path / "ft")
    for key in ("chat_template", "hf", "generation_defaults"):
        assert ft.config[key] == parent.config[key]
    assert ft.train_config["chat"] and ft.train_config.get("bos_token") is None  # as its parent
    (tmp_path / "m.json").write_text(json.dumps({"messages": [
        {"role": "user", "content": "say green"}]}))  # fmt: skip
    code = main(["chat", "--checkpoint", str(tmp_path / "ft"), "--messages",
                 str(tmp_path / "m.json"), "--temperature", "0", "--device", "cpu"])  # fmt: skip
    answer = json.loads(capsys.readouterr().out)
    assert code == 0 and answer["reply"] == "green" and answer["reason"] == "end_of_text"

    # Out again: a Llama with its template, stopping where lmcore stops.
    export_hf(tmp_path / "ft", tmp_path / "hf")
    hf = transformers.AutoModelForCausalLM.from_pretrained(tmp_path / "hf").eval()
    hf_tok = transformers.AutoTokenizer.from_pretrained(tmp_path / "hf")
    assert type(hf).__name__ == "LlamaForCausalLM"
    messages = [{"role": "user", "content": "say green"}]
    prompt = list(hf_tok.apply_chat_template(messages, add_generation_prompt=True, tokenize=True,
                                             return_dict=False))  # fmt: skip
    assert prompt == render(ft.tokenizer, messages, generation_prompt=True, template=template).ids
    with torch.no_grad():
        out = hf.generate(torch.tensor([prompt]), max_new_tokens=20, do_sample=False)
        ours = ft.model(torch.tensor([prompt]))[0]
        assert (ours - hf(torch.tensor([prompt])).logits).abs().max().item() < 1e-4
    assert out[0, len(prompt) :].tolist() == [t["id"] for t in answer["tokens"]]


def test_a_template_that_cannot_mark_replies_is_refused(imported, tmp_path, capsys):
    parent = tmp_path / "parent"
    shutil.copytree(imported / "ck", parent)
    config = json.loads((parent / "config.json").read_text())
    config["chat_template"]["template"] = (
        "{% for m in messages %}{% if loop.last %}<|im_start|>{% endif %}{{ m['content'] }}"
        "{% endfor %}{% if add_generation_prompt %}<|im_end|>{% endif %}"
    )
    (parent / "config.json").write_text(json.dumps(config))
    data = write_jsonl(tmp_path / "c.jsonl", [conversation(i) for i in range(4)])
    code = main(["train", "--init-from", str(parent), "--chat-data", str(data),
                 "--out", str(tmp_path / "ft"), "--max-steps", "2", "--device", "cpu"])  # fmt: skip
    err = capsys.readouterr().err
    assert code == 1 and "cannot mark the replies to learn from" in err


def test_a_model_without_a_template_is_refused(corpus_file, tmp_path, capsys):
    tok = train_tokenizer([corpus_file], TokenizerConfig(300, special_tokens=["<|endoftext|>"]))
    save_hf_model("llama-gqa", tok, tmp_path / "src")
    import_hf(tmp_path / "src", tmp_path / "ck")
    data = write_jsonl(tmp_path / "c.jsonl", [conversation(i) for i in range(4)])
    code = main(["train", "--init-from", str(tmp_path / "ck"), "--chat-data", str(data),
                 "--out", str(tmp_path / "ft"), "--max-steps", "2", "--device", "cpu"])  # fmt: skip
    err = capsys.readouterr().err
    assert code == 1 and "came without a chat template" in err
