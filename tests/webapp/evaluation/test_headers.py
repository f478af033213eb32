"""Every column of the evaluation tables has a header a screen reader can read: the columns of
links and marks have visually hidden ones, as the API keys table does."""

import json
import re

import pytest
from django.urls import reverse

from webapp.evaluation.models import EvalResult, EvalTask, EvaluationRun

pytestmark = pytest.mark.django_db


def test_no_column_header_is_empty(alice_client, alice, version):
    run = EvaluationRun.objects.create(owner=alice, name="done", tasks=[], status="succeeded")
    result = EvalResult.objects.create(run=run, version=version, task_key="harness:piqa",
                                       task_label="piqa", output_type="multiple_choice", n=1,
                                       metrics={"acc": {"value": 1.0, "stderr": 0.0}})  # fmt: skip
    result.samples_path.parent.mkdir(parents=True, exist_ok=True)
    item = {"context": "the cat", "choices": ["ate", "naïve"], "loglikelihoods": [-1.0, -2.0],
            "pick": 0, "gold": 0, "metrics": {"acc": 1.0}}  # fmt: skip
    result.samples_path.write_text(json.dumps(item) + "\n", encoding="utf-8")
    EvalTask.objects.create(owner=alice, name="quiz", config={}, output_type="multiple_choice",
                            items=1)  # fmt: skip
    pages = {"run": run.get_absolute_url(), "tasks": reverse("evaluation:tasks"),
             "items": reverse("evaluation:items", args=[result.pk])}  # fmt: skip
    for name, url in pages.items():
        html = alice_client.get(url).content.decode()
        headers = re.findall(r"<th\b[^>]*>(.*?)</th>", html, re.S)
        assert headers, name
        empty = [h for h in headers if not re.sub(r"<[^>]+>", "", h).strip()]
        assert not empty, (name, headers)
