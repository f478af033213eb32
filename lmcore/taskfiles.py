"""Evaluation task files: a harness task YAML plus its items as JSONL, checked before use.

A user's task is lm-evaluation-harness's own format (its `task`, `output_type`,
`doc_to_text`, `doc_to_choice`, `doc_to_target`, `metric_list`, ...), so a task written for
the harness works here and back. What it may hold is a subset, because a file from a user must
not run code or reach outside its own items:
- safe YAML only: `!function` (the harness's hook to import Python from a file) and every
  other tag are refused with the line they are on; so are `include`, dataset keys (the data
  is the uploaded JSONL, always), `process_docs`/`process_results`/`filter_list` (code or
  registry hooks) and any key this module does not list;
- templates are Jinja, checked here by rendering them against the items in a sandbox (the
  harness renders them in one too, `lmcore.harness`), so an unknown field is reported with
  the JSONL line that lacks it;
- metrics from a fixed list, generation settings from a fixed list.

`check_task` returns the cleaned config and the item count, or raises LmcoreError whose text
starts with the file and line ("task.yaml line 3: ...", "items.jsonl line 12: ...").
`harness_config` turns a cleaned config and the JSONL's path into the dict the harness loads.
Torch-free and harness-free: the web process checks uploads with it.
"""

from __future__ import annotations

import ast
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml
from jinja2 import StrictUndefined, TemplateError
from jinja2.sandbox import ImmutableSandboxedEnvironment

from lmcore.errors import LmcoreError

OUTPUT_TYPES = ("multiple_choice", "loglikelihood", "loglikelihood_rolling", "generate_until")
METRICS = ("acc", "acc_norm", "acc_bytes", "exact_match", "perplexity", "word_perplexity",
           "byte_perplexity", "bits_per_byte")  # fmt: skip
TEXT_KEYS = ("doc_to_text", "doc_to_target", "doc_to_choice", "target_delimiter",
             "fewshot_delimiter", "description")  # fmt: skip
KEYS = ("task", "output_type", "num_fewshot", "metric_list", "generation_kwargs", *TEXT_KEYS)
METRIC_KEYS = ("metric", "aggregation", "higher_is_better", "ignore_case", "ignore_punctuation")
GENERATION_KEYS = ("until", "max_gen_toks", "do_sample", "temperature")
MAX_ITEMS = 100_000
MAX_LINE_CHARS = 100_000
CHECKED_ITEMS = 1_000  # items every template is rendered against (all lines are parsed)
NAME_CHARS = set("abcdefghijklmnopqrstuvwxyz0123456789_-.")

_jinja = ImmutableSandboxedEnvironment(undefined=StrictUndefined, keep_trailing_newline=True)
_jinja.filters["regex_replace"] = lambda s, pattern, repl, count=0: re.sub(
    pattern, repl, s, count=count
)


def load_yaml(text: str, name: str = "task.yaml") -> dict[str, Any]:
    """The YAML as a mapping; LmcoreError with the line of the first problem."""
    try:
        data = yaml.safe_load(text)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = f" line {mark.line + 1}" if mark else ""
        problem = str(exc.problem or exc.context or "not valid YAML")
        if "!function" in problem or "!function" in str(exc):
            problem = ("!function imports Python from a file, and an uploaded task may not run "
                       "code: write the prompt as a Jinja template, e.g. doc_to_text: "
                       '"{{question}}"')  # fmt: skip
        elif "constructor for the tag" in problem:
            problem = f"{problem}: only plain YAML is accepted (no tags)"
        raise LmcoreError(f"{name}{line}: {problem}") from None
    except yaml.YAMLError as exc:
        raise LmcoreError(f"{name}: not valid YAML ({exc})") from None
    if not isinstance(data, dict):
        raise LmcoreError(f"{name}: expected a mapping of task settings (task: ..., ...)")
    return data


def check_config(data: dict[str, Any], name: str = "task.yaml") -> dict[str, Any]:
    """The settings, checked key by key; see the module docstring."""
    unknown = [k for k in data if k not in KEYS]
    if unknown:
        raise LmcoreError(f"{name}: {', '.join(map(str, unknown))} not accepted in an uploaded "
                          f"task (its data is the JSONL; code hooks are refused); accepted: "
                          f"{', '.join(KEYS)}")  # fmt: skip
    task = data.get("task")
    if not isinstance(task, str) or not task or set(task) - NAME_CHARS or len(task) > 80:
        raise LmcoreError(f"{name}: task must be a name of lowercase letters, digits, _ - and .")
    if data.get("output_type", "generate_until") not in OUTPUT_TYPES:
        raise LmcoreError(f"{name}: output_type must be one of {', '.join(OUTPUT_TYPES)}")
    for key in TEXT_KEYS:
        if key in data and not isinstance(data[key], str | int):
            raise LmcoreError(f"{name}: {key} must be a string (a field name or a template)")
    fewshot = data.get("num_fewshot", 0)
    if not isinstance(fewshot, int) or isinstance(fewshot, bool) or not 0 <= fewshot <= 10:
        raise LmcoreError(f"{name}: num_fewshot must be a whole number from 0 to 10")
    _check_metrics(data.get("metric_list", []), name)
    _check_generation(data.get("generation_kwargs", {}), name)
    if "doc_to_text" not in data or "doc_to_target" not in data:
        raise LmcoreError(f"{name}: doc_to_text and doc_to_target are needed")
    if data.get("output_type") == "multiple_choice" and "doc_to_choice" not in data:
        raise LmcoreError(f"{name}: a multiple_choice task needs doc_to_choice")
    return dict(data)


def _check_metrics(metrics: Any, name: str) -> None:
    if not isinstance(metrics, list):
        raise LmcoreError(f"{name}: metric_list must be a list of {{metric: NAME}}")
    for m in metrics:
        if not isinstance(m, dict) or m.get("metric") not in METRICS or set(m) - set(METRIC_KEYS):
            raise LmcoreError(f"{name}: each metric is {{metric: one of {', '.join(METRICS)}}} "
                              f"with at most {', '.join(METRIC_KEYS[1:])}; not {m!r}")  # fmt: skip


def _check_generation(kwargs: Any, name: str) -> None:
    if not isinstance(kwargs, dict) or set(kwargs) - set(GENERATION_KEYS):
        raise LmcoreError(f"{name}: generation_kwargs may set {', '.join(GENERATION_KEYS)}")
    until = kwargs.get("until", [])
    if not isinstance(until, str) and not (
        isinstance(until, list) and all(isinstance(u, str) for u in until)
    ):
        raise LmcoreError(f"{name}: generation_kwargs.until must be a string or a list of them")


def iter_items(lines: Iterator[str], name: str = "items.jsonl") -> Iterator[tuple[int, dict]]:
    """(line number, item) of each non-blank line; LmcoreError at the first bad one."""
    count = 0
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        if len(line) > MAX_LINE_CHARS:
            raise LmcoreError(f"{name} line {number}: over {MAX_LINE_CHARS:,} characters")
        try:
            item = json.loads(line)
        except ValueError as exc:
            what = "not a JSONL file (one JSON object per line)" if number == 1 else "invalid JSON"
            raise LmcoreError(f"{name} line {number}: {what} ({exc.msg})") from None
        if not isinstance(item, dict):
            raise LmcoreError(f"{name} line {number}: expected a JSON object, not "
                              f"{type(item).__name__}")  # fmt: skip
        count += 1
        if count > MAX_ITEMS:
            raise LmcoreError(f"{name}: more than {MAX_ITEMS:,} items")
        yield number, item


def render(template: str | int, item: dict[str, Any]) -> Any:
    """A field's value as the harness reads it: the item's field of that name, else the
    template rendered (a list literal for choices stays a string here)."""
    if isinstance(template, int):
        return template
    if template in item:
        return item[template]
    return _jinja.from_string(template).render(**item)


def check_item(config: dict[str, Any], item: dict[str, Any]) -> str | None:
    """Why the config's templates fail on this item, or None."""
    try:
        for key in ("doc_to_text", "doc_to_target", "doc_to_choice"):
            if key in config:
                value = render(config[key], item)
                if key == "doc_to_choice":
                    choices = ast.literal_eval(value) if isinstance(value, str) else value
                    if not isinstance(choices, list) or len(choices) < 2:
                        return "doc_to_choice must give a list of at least two choices"
    except TemplateError as exc:
        return f"{key}: {exc.message or exc}"
    except (ValueError, SyntaxError):
        return 'doc_to_choice must give a list, e.g. "{{choices}}" or a field holding one'
    return None


def check_task(yaml_text: str, jsonl_path: Path, *, yaml_name: str = "task.yaml",
               jsonl_name: str = "items.jsonl") -> tuple[dict[str, Any], int]:  # fmt: skip
    """(cleaned config, items) of an uploaded task; LmcoreError naming the file and line."""
    config = check_config(load_yaml(yaml_text, yaml_name), yaml_name)
    items = 0
    try:
        with open(jsonl_path, encoding="utf-8") as lines:
            for number, item in iter_items(lines, jsonl_name):
                items += 1
                if items <= CHECKED_ITEMS and (problem := check_item(config, item)):
                    raise LmcoreError(f"{jsonl_name} line {number}: {problem}")
    except UnicodeDecodeError as exc:
        raise LmcoreError(f"{jsonl_name}: not UTF-8 text ({exc.reason})") from None
    if not items:
        raise LmcoreError(f"{jsonl_name}: no items (one JSON object per line)")
    return config, items


def harness_config(config: dict[str, Any], jsonl_path: Path, cache_dir: Path) -> dict[str, Any]:
    """The harness's task dict: the checked settings, the JSONL as its one (test) split."""
    data_files = {"test": str(jsonl_path)}
    metrics = config.get("metric_list") or default_metrics(config.get("output_type"))
    return {**config, "dataset_path": "json", "metric_list": metrics,
            "dataset_kwargs": {"data_files": data_files, "cache_dir": str(cache_dir)},
            "test_split": "test", "fewshot_split": "test"}  # fmt: skip


def default_metrics(output_type: str | None) -> list[dict[str, Any]]:
    """The harness's usual metrics for an output type (it fills in their aggregations)."""
    names = {"multiple_choice": ["acc", "acc_norm", "acc_bytes"],
             "loglikelihood": ["acc", "perplexity"],
             "loglikelihood_rolling": ["bits_per_byte", "byte_perplexity"]}  # fmt: skip
    return [{"metric": m} for m in names.get(output_type or "", ["exact_match"])]


def task_from_files(yaml_path: Path, jsonl_path: Path, cache_dir: Path) -> dict[str, Any]:
    """The harness task of a YAML file and its items, checked (`check_task`)."""
    try:
        text = Path(yaml_path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise LmcoreError(f"{yaml_path}: unreadable ({exc})") from None
    if not Path(jsonl_path).is_file():
        raise LmcoreError(f"{jsonl_path}: missing (a task file's items sit beside it as .jsonl)")
    config, _ = check_task(text, jsonl_path, yaml_name=Path(yaml_path).name,
                           jsonl_name=Path(jsonl_path).name)  # fmt: skip
    return harness_config(config, jsonl_path, cache_dir)
