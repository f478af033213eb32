"""Uploaded task files (lmcore/taskfiles.py): safe YAML only, checked key by key, every bad
line named."""

import json

import pytest

from lmcore.errors import LmcoreError
from lmcore.taskfiles import check_task, harness_config

GOOD = """task: capitals
output_type: multiple_choice
doc_to_text: "Q: {{question}}\\nA:"
doc_to_choice: "{{choices}}"
doc_to_target: answer
"""
ITEM = {"question": "Capital of Italy?", "choices": ["Rome", "Oslo"], "answer": 0}


def items(tmp_path, *lines) -> object:
    path = tmp_path / "items.jsonl"
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return path


def test_it_accepts_a_harness_task_and_counts_its_items(tmp_path):
    config, count = check_task(GOOD, items(tmp_path, json.dumps(ITEM), "", json.dumps(ITEM)))
    assert count == 2 and config["task"] == "capitals"
    harness = harness_config(config, tmp_path / "items.jsonl", tmp_path / "cache")
    assert harness["dataset_path"] == "json" and harness["test_split"] == "test"
    assert harness["dataset_kwargs"]["data_files"] == {"test": str(tmp_path / "items.jsonl")}


def test_it_refuses_function_tags_with_their_line(tmp_path):
    yaml_text = GOOD.replace(
        'doc_to_text: "Q: {{question}}\\nA:"', "doc_to_text: !function utils.f"
    )
    with pytest.raises(LmcoreError, match=r"task.yaml line 3: !function imports Python"):
        check_task(yaml_text, items(tmp_path, json.dumps(ITEM)))


@pytest.mark.parametrize("key", ["include: other.yaml", "dataset_path: evil/remote",
                                 "process_results: x", "dataset_kwargs: {trust_remote_code: true}"])  # fmt: skip
def test_it_refuses_keys_that_reach_outside_the_upload(tmp_path, key):
    with pytest.raises(LmcoreError, match="not accepted in an uploaded task"):
        check_task(GOOD + key + "\n", items(tmp_path, json.dumps(ITEM)))


def test_it_names_the_bad_jsonl_line(tmp_path):
    with pytest.raises(LmcoreError, match=r"items.jsonl line 2: invalid JSON"):
        check_task(GOOD, items(tmp_path, json.dumps(ITEM), "{not json"))
    with pytest.raises(LmcoreError, match=r"items.jsonl line 1: not a JSONL file"):
        check_task(GOOD, items(tmp_path, "plain text"))
    missing = {"choices": ["a", "b"], "answer": 0}
    with pytest.raises(
        LmcoreError, match=r"items.jsonl line 3: doc_to_text: 'question' is undefined"
    ):
        check_task(GOOD, items(tmp_path, json.dumps(ITEM), "", json.dumps(missing)))


def test_it_refuses_templates_that_reach_for_python(tmp_path):
    sneaky = GOOD.replace("Q: {{question}}", "{{ question.__class__.__mro__ }}")
    with pytest.raises(LmcoreError, match="line 1: doc_to_text"):
        check_task(sneaky, items(tmp_path, json.dumps(ITEM)))


def test_it_refuses_unknown_metrics_and_bad_settings(tmp_path):
    path = items(tmp_path, json.dumps(ITEM))
    with pytest.raises(LmcoreError, match="line 7: .* only plain YAML is accepted"):
        check_task(GOOD + "metric_list:\n  - metric: !!python/name:os.system\n", path)
    with pytest.raises(LmcoreError, match="each metric is"):
        check_task(GOOD + "metric_list:\n  - metric: my_metric\n", path)
    with pytest.raises(LmcoreError, match="num_fewshot"):
        check_task(GOOD + "num_fewshot: 99\n", path)
    with pytest.raises(LmcoreError, match="task.yaml: expected a mapping"):
        check_task("- a\n- b\n", path)
