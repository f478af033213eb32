"""A chat version evaluated through the real worker is prompted as it chats: one run of the
same weights as a base and as a chat version; the chat version's items carry prompts rendered
with its template, scored on the ids that template renders, and its items page shows them."""

import json

import pytest
from django.urls import reverse
from django.utils.html import escape

from lmcore.chat import render
from lmcore.chat_config import template_for
from lmcore.checkpoint import load_checkpoint
from lmcore.score import score
from tests.webapp.evaluation.conftest import ITEMS, upload_task
from tests.webapp.evaluation.test_runs import finished, start
from tests.webapp.playground.conftest import make_version
from webapp.evaluation.models import EvalResult, EvalTask, EvaluationRun

pytestmark = pytest.mark.django_db(transaction=True)


def samples(result: EvalResult) -> list[dict]:
    lines = result.samples_path.read_text("utf-8").splitlines()
    return sorted((json.loads(line) for line in lines), key=lambda s: s["doc_id"])


def test_a_chat_version_is_evaluated_with_its_own_template(
    alice_client, alice, version, tiny_checkpoint, celery_worker
):
    chat = make_version(alice, tiny_checkpoint, name="chatty", is_chat=True)
    assert upload_task(alice_client).status_code == 302
    data = {"name": "chat", "versions": [version.pk, chat.pk],
            "task_files": [EvalTask.objects.get().pk]}  # fmt: skip
    start(alice_client, version, **data)
    assert finished(EvaluationRun.objects.get()).status == "succeeded"
    base_result = EvalResult.objects.get(version=version)
    chat_result = EvalResult.objects.get(version=chat)

    # The base version: each item's text as typed.
    assert [s["context"] for s in samples(base_result)] == [i["context"] for i in ITEMS]

    checkpoint = load_checkpoint(chat.directory)
    tok, template = checkpoint.tokenizer, template_for(checkpoint.config, checkpoint.tokenizer)
    assert template is not None
    chat_samples = samples(chat_result)
    assert len(chat_samples) == len(ITEMS)
    for sample, item in zip(chat_samples, ITEMS, strict=True):
        messages = [{"role": "user", "content": item["context"]}]
        assert sample["context"] == template.render(messages, add_generation_prompt=True)
        assert sample["context"] != item["context"]
        prompt = render(tok, messages, generation_prompt=True, template=template).ids
        for choice, got in zip(sample["choices"], sample["loglikelihoods"], strict=True):
            reply = tok.encode(choice)
            tokens = score(checkpoint.model, tok.bytes_table(), prompt + reply)["tokens"]
            assert got == pytest.approx(sum(t["logprob"] for t in tokens[-len(reply) :]),
                                        abs=1e-4)  # fmt: skip

    page = alice_client.get(reverse("evaluation:items", args=[chat_result.pk])).content.decode()
    for sample in chat_samples:
        assert f'<pre class="context">{escape(sample["context"])}</pre>' in page
