"""The real SmolLM2-135M-Instruct (tests/smollm2.py), imported from its `transformers`
directory, answers three factual questions through `lmcore chat` exactly as `transformers`'
greedy `generate` does after `apply_chat_template`, token for token, and knows Paris."""

import json

import pytest
import torch
import transformers

from lmcore.cli import main
from lmcore.hf_import import import_hf
from tests.smollm2 import hf_dir_or_skip

pytestmark = pytest.mark.slow  # the real SmolLM2 answering beside transformers: a minute
QUESTIONS = [
    "What is the capital of France?",
    "How many legs does a spider have?",
    "What is the chemical symbol for gold?",
]
NEW_TOKENS = 40


@pytest.fixture(scope="module")
def smol(tmp_path_factory):
    source = hf_dir_or_skip()
    out = tmp_path_factory.mktemp("smol") / "ck"
    summary = import_hf(source, out)
    assert summary["chat"] and summary["end_ids"] == [2]  # <|im_end|>
    hf = transformers.AutoModelForCausalLM.from_pretrained(source, dtype=torch.float32).eval()
    return source, out, hf, transformers.AutoTokenizer.from_pretrained(source)


@pytest.mark.parametrize("question", QUESTIONS)
def test_greedy_answers_equal_transformers(smol, question, tmp_path, capsys):
    source, checkpoint, hf, hf_tok = smol
    messages = [{"role": "user", "content": question}]
    prompt = hf_tok.apply_chat_template(messages, add_generation_prompt=True, tokenize=True,
                                        return_dict=False)  # fmt: skip
    with torch.no_grad():
        out = hf.generate(torch.tensor([list(prompt)]), max_new_tokens=NEW_TOKENS,
                          do_sample=False)  # its generation_config: eos 2  # fmt: skip
    expected = out[0, len(prompt) :].tolist()

    (tmp_path / "m.json").write_text(json.dumps({"messages": messages}))
    code = main(["chat", "--checkpoint", str(checkpoint), "--messages", str(tmp_path / "m.json"),
                 "--temperature", "0", "--max-new-tokens", str(NEW_TOKENS), "--device", "cpu"])  # fmt: skip
    answer = json.loads(capsys.readouterr().out)
    assert code == 0 and answer["prompt_tokens"] == len(prompt)
    assert [t["id"] for t in answer["tokens"]] == expected
    if "France" in question:
        assert "Paris" in answer["reply"], answer["reply"]
        assert answer["reason"] == "end_of_text"  # it stopped at <|im_end|>, its own end
