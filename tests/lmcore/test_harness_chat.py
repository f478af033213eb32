"""The harness adapter's chat mode uses the version's own template: a tiny imported Llama with a
ChatML template (tests/hf_models.py) is evaluated with ChatML prompts, its loglikelihoods
equal scoring the rendered ids directly, and its replies stop at its own end ids."""

import json

import pytest

from lmcore.chat import render
from lmcore.chat_config import template_for
from lmcore.checkpoint import load_checkpoint
from lmcore.hf_import import import_hf
from lmcore.score import score
from lmcore.taskfiles import task_from_files
from tests.hf_models import greedy_reply, save_chatml_model

MESSAGES = [{"role": "system", "content": "Be brief."},
            {"role": "user", "content": "What is the capital of France?"}]  # fmt: skip
QUESTIONS = ["What is the capital of France?", "Name a colour.", "2 + 2 ="]


@pytest.fixture(scope="module")
def imported(corpus_file, tmp_path_factory):
    """(the transformers model and tokenizer, the end ids, the imported checkpoint)."""
    root = tmp_path_factory.mktemp("chatml-eval")
    model, hf_tok, end_ids = save_chatml_model(corpus_file, root / "src", MESSAGES)
    import_hf(root / "src", root / "ck")
    return model, hf_tok, end_ids, load_checkpoint(root / "ck")


@pytest.fixture(scope="module")
def lm(imported):
    from lmcore.harness import LmcoreLM

    return LmcoreLM(imported[3], chat=True)


def load(tmp_path, config: str, items: list[dict]):
    from lmcore.harness import load_task

    (tmp_path / "t.yaml").write_text(config, encoding="utf-8")
    (tmp_path / "t.jsonl").write_text("".join(json.dumps(i) + "\n" for i in items), "utf-8")
    return load_task(task_from_files(tmp_path / "t.yaml", tmp_path / "t.jsonl", tmp_path / "c"))


MC = """task: chat_mc
output_type: multiple_choice
description: "Be brief."
doc_to_text: "{{q}}"
doc_to_choice: "{{choices}}"
doc_to_target: 0
"""


def test_its_chat_loglikelihoods_score_the_ids_its_template_renders(imported, lm, tmp_path):
    from lmcore.harness import run_task

    model, hf_tok, _, checkpoint = imported
    items = [{"q": q, "choices": ["Paris.", " blue", "4<|im_end|>"]} for q in QUESTIONS]
    result = run_task(lm, load(tmp_path, MC, items))
    template, tok = template_for(checkpoint.config, checkpoint.tokenizer), checkpoint.tokenizer
    assert len(result["samples"]) == len(QUESTIONS)
    for sample in result["samples"]:
        messages = [MESSAGES[0], {"role": "user", "content": QUESTIONS[sample["doc_id"]]}]
        prompt = render(tok, messages, generation_prompt=True, template=template).ids
        # ChatML, as transformers renders it: not lmcore's layout, not the text as typed
        assert prompt == list(hf_tok.apply_chat_template(messages, add_generation_prompt=True,
                                                         tokenize=True, return_dict=False))  # fmt: skip
        assert sample["context"] == hf_tok.apply_chat_template(messages, tokenize=False,
                                                               add_generation_prompt=True)  # fmt: skip
        for choice, got in zip(sample["choices"], sample["loglikelihoods"], strict=True):
            reply = tok.encode(choice)  # a typed "<|im_end|>" stays bytes
            assert tok.special_id("<|im_end|>") not in reply
            tokens = score(model=checkpoint.model, bytes_table=tok.bytes_table(),
                           ids=prompt + reply)["tokens"]  # fmt: skip
            assert got == pytest.approx(sum(t["logprob"] for t in tokens[-len(reply) :]),
                                        abs=1e-4)  # fmt: skip


GEN = """task: chat_gen
output_type: generate_until
description: "Be brief."
doc_to_text: "{{q}}"
doc_to_target: "{{a}}"
generation_kwargs:
  until: ["@@@"]
  max_gen_toks: 30
"""


def test_its_chat_replies_stop_at_the_templates_end_ids(imported, lm, tmp_path):
    from lmcore.harness import run_task

    model, hf_tok, end_ids, checkpoint = imported
    result = run_task(lm, load(tmp_path, GEN, [{"q": MESSAGES[1]["content"], "a": "Paris"}]))
    expected = greedy_reply(model, hf_tok, MESSAGES, end_ids)
    assert expected[-1] in end_ids and len(expected) < 30  # transformers stopped at an end id
    assert result["samples"][0]["output"] == checkpoint.tokenizer.decode(expected[:-1])


def test_lmcore_evaluate_renders_an_imported_chat_model_with_its_template(imported, tmp_path,
                                                                          capsys):  # fmt: skip
    from lmcore.cli import main

    items = [{"q": q, "choices": ["Paris.", " blue"]} for q in QUESTIONS]
    (tmp_path / "t.yaml").write_text(MC, encoding="utf-8")
    (tmp_path / "t.jsonl").write_text("".join(json.dumps(i) + "\n" for i in items), "utf-8")
    ck = str(imported[3].directory)
    for flags, chat in (([], True), (["--no-chat"], False)):
        code = main(["evaluate", "--checkpoint", ck, "--task-file", str(tmp_path / "t.yaml"),
                     "--samples", "--device", "cpu", *flags])  # fmt: skip
        out = json.loads(capsys.readouterr().out)
        assert code == 0 and out["chat"] is chat
        context = out["tasks"][0]["samples"][0]["context"]
        assert context.startswith("<|im_start|>system\nBe brief.<|im_end|>") is chat
