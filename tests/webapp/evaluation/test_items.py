"""A generation task's drill-down: an uploaded generate_until task file evaluated through the
real worker; the items page shows each item's output, the model's greedy text as lmcore's
engine writes it in this process, and its reference, the task's target."""

import json

import pytest
from django.urls import reverse
from django.utils.html import escape

from lmcore.chat_config import text_end_ids
from lmcore.checkpoint import load_checkpoint
from lmcore.config import SamplingParams
from lmcore.documents import bos_id_for
from lmcore.engine import Engine
from tests.webapp.evaluation.conftest import upload_task
from tests.webapp.evaluation.test_runs import finished, start
from webapp.evaluation.models import EvalResult, EvalTask, EvaluationRun

pytestmark = pytest.mark.django_db(transaction=True)

GENERATION_YAML = """task: words_gen
output_type: generate_until
doc_to_text: "{{start}}"
doc_to_target: "{{rest}}"
target_delimiter: ""
generation_kwargs:
  until: ["\\n"]
  max_gen_toks: 8
"""
ITEMS = [{"start": "the mouse", "rest": " ate the cheese"},
         {"start": "perché il", "rest": " gatto <b>&</b>"},
         {"start": "日本", "rest": " and 🙂"}]  # fmt: skip


def greedy_text(checkpoint, prompt: str) -> str:
    """What the task asks of the model: greedy, 8 tokens at most, cut at the first newline."""
    tok = checkpoint.tokenizer
    bos = bos_id_for(checkpoint.train_config, tok.special_tokens)
    engine = Engine(checkpoint.model, tok.bytes_table(),
                    end_ids=text_end_ids(checkpoint.config, tok), bos_id=bos)  # fmt: skip
    ids = tok.encode(prompt) if bos is None else [bos, *tok.encode(prompt)]
    events = engine.generate(ids, SamplingParams(max_new_tokens=8, temperature=0.0))
    return "".join(e["text"] for e in events).split("\n")[0]


def test_a_generation_tasks_items_show_the_output_and_the_reference(
    alice_client, version, celery_worker
):
    assert upload_task(alice_client, GENERATION_YAML, ITEMS).status_code == 302
    start(alice_client, version, task_files=[EvalTask.objects.get().pk])
    assert finished(EvaluationRun.objects.get()).status == "succeeded"
    result = EvalResult.objects.get()
    assert (result.output_type, result.n) == ("generate_until", 3)

    stored = [json.loads(line) for line in result.samples_path.read_text("utf-8").splitlines()]
    checkpoint = load_checkpoint(version.directory)
    for sample in stored:
        item = ITEMS[sample["doc_id"]]
        assert sample["output"] == greedy_text(checkpoint, item["start"])
        assert sample["reference"] == item["rest"]
    assert all(sample["output"] for sample in stored)  # the tiny model says something each time
    matches = sum(s["output"] == s["reference"] for s in stored)
    assert result.metrics["exact_match"]["value"] == matches / 3

    page = alice_client.get(reverse("evaluation:items", args=[result.pk])).content.decode()
    for sample in sorted(stored, key=lambda s: s["doc_id"]):
        section = page.split(f'id="item-{sample["doc_id"]}"')[1].split("</section>")[0]
        assert f'<pre class="context">{escape(ITEMS[sample["doc_id"]]["start"])}</pre>' in section
        assert f"<p>Output:</p><pre>{escape(sample['output'])}</pre>" in section
        assert f"<p>Reference:</p><pre>{escape(sample['reference'])}</pre>" in section
