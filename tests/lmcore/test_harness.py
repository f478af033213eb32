"""The lm-evaluation-harness adapter (lmcore/harness.py) against lmcore's own scorer and
engine, on a model trained here to know a verse by heart, through the real `lm_eval`."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from lmcore.checkpoint import load_checkpoint
from lmcore.taskfiles import harness_config, task_from_files
from tests.lmcore.conftest import VERSE, _tiny_gpt_config, _tiny_train_config

ROOT = Path(__file__).resolve().parents[2]
LINES = [line for line in VERSE.splitlines() if line]


@pytest.fixture(scope="module")
def verse_checkpoint(small_tokenizer, verse_corpus, tmp_path_factory) -> Path:
    return train_on(verse_corpus, small_tokenizer, tmp_path_factory.mktemp("verse-model"))


def train_on(corpus, tokenizer, directory: Path, steps: int = 300) -> Path:
    """A 2-layer model (context 32 tokens) trained on `corpus`: 300 steps recite the verse."""
    from lmcore.train import train

    out = directory / "checkpoint"
    train(_tiny_gpt_config(tokenizer.vocab_size), _tiny_train_config(max_steps=steps, lr=1e-2),
          corpus, tokenizer, out)  # fmt: skip
    return out


@pytest.fixture(scope="module")
def lm(verse_checkpoint):
    from lmcore.harness import LmcoreLM

    return LmcoreLM(load_checkpoint(verse_checkpoint))


def write_task(directory: Path, config: str, items: list[dict]) -> Path:
    (directory / "task.yaml").write_text(config, encoding="utf-8")
    (directory / "task.jsonl").write_text("".join(json.dumps(i) + "\n" for i in items), "utf-8")
    return directory / "task.yaml"


VERSE_MC = """task: verse_mc
output_type: multiple_choice
doc_to_text: "{{start}}"
doc_to_choice: "{{choices}}"
doc_to_target: gold
target_delimiter: ""
"""


def verse_items() -> list[dict]:
    """Each line's start, its real end against the end of another line: the model knows."""
    items = []
    for n, line in enumerate(LINES):
        cut = line.index(" ", len(line) // 2)
        other = LINES[(n + 1) % len(LINES)]
        wrong = other[other.index(" ", len(other) // 2) :]
        items.append({"start": line[:cut], "choices": [wrong, line[cut:]], "gold": 1})
    return items


def test_it_answers_a_multiple_choice_task_its_model_knows(lm, tmp_path):
    from lmcore.harness import load_task, run_task

    task = load_task(task_from_files(write_task(tmp_path, VERSE_MC, verse_items()),
                                     tmp_path / "task.jsonl", tmp_path / "cache"))  # fmt: skip
    result = run_task(lm, task)
    assert result["n"] == len(LINES)
    assert result["metrics"]["acc"]["value"] == 1.0
    assert result["metrics"]["acc"]["stderr"] == 0.0
    item = result["samples"][0]
    assert item["pick"] == item["gold"] == 1
    assert item["loglikelihoods"][1] > item["loglikelihoods"][0]


def cli_score(checkpoint: Path, text: str) -> list[float | None]:
    done = subprocess.run([sys.executable, "-m", "lmcore", "score", "--checkpoint",
                           str(checkpoint), "--text", text, "--device", "cpu"],
                          cwd=ROOT, capture_output=True, text=True, timeout=120, check=True)  # fmt: skip
    return [t["logprob"] for t in json.loads(done.stdout)["tokens"]]


@pytest.mark.slow
def test_its_loglikelihoods_equal_lmcore_score(lm, verse_checkpoint):
    from lm_eval.api.instance import Instance

    # Texts within the context (32 tokens), where a window's scores are a text's scores.
    pairs = [("Thou art", " more lovely"), ("Rough winds ", "do shake"), ("", "Rough winds")]
    requests = [Instance("loglikelihood", {}, pair, n) for n, pair in enumerate(pairs)]
    answers = lm.loglikelihood(requests)
    for (context, continuation), (logprob, _) in zip(pairs, answers, strict=True):
        scored = cli_score(verse_checkpoint, context + continuation)
        context_tokens = len(lm.tok.encode(context.rstrip(" "))) if context.strip() else 0
        assert logprob == pytest.approx(sum(scored[context_tokens:]), abs=1e-4)
    assert answers[0][1] is True  # the verse's own continuation is the greedy one


def test_its_rolling_loglikelihood_is_the_scored_total(lm, verse_checkpoint):
    from lm_eval.api.instance import Instance

    text = "And summer's lease"  # within the context: one window, `lmcore score`'s total
    [total] = lm.loglikelihood_rolling([Instance("loglikelihood_rolling", {}, (text,), 0)])
    assert total == pytest.approx(sum(cli_score(verse_checkpoint, text)), abs=1e-4)


def test_it_generates_until_the_stop_string_as_the_engine_does(lm, tmp_path):
    from lmcore.harness import load_task, run_task

    items = [{"start": line[:12], "rest": line[12:]} for line in LINES]
    config = ("task: verse_gen\noutput_type: generate_until\ndoc_to_text: \"{{start}}\"\n"
              "doc_to_target: \"{{rest}}\"\ntarget_delimiter: \"\"\n"
              "generation_kwargs:\n  until: [\"\\n\"]\n  max_gen_toks: 40\n")  # fmt: skip
    task = load_task(task_from_files(write_task(tmp_path, config, items),
                                     tmp_path / "task.jsonl", tmp_path / "cache"))  # fmt: skip
    result = run_task(lm, task)
    outputs = {s["doc_id"]: s["output"] for s in result["samples"]}
    for n, item in enumerate(items):  # each output: the engine's greedy text up to the stop
        assert outputs[n] == engine_text(lm, item["start"], 40, "\n")
    recited = sum(outputs[n] == item["rest"] for n, item in enumerate(items))
    assert recited >= 2  # the model knows its verse
    assert result["metrics"]["exact_match"]["value"] == recited / len(items)


def engine_text(lm, prompt: str, max_new: int, stop: str) -> str:
    from lmcore.config import SamplingParams
    from lmcore.engine import Engine

    engine = Engine(lm.model, lm.bytes_table, end_ids=[lm.tok.eot_id])
    ids = [lm.bos_id, *lm.tok.encode(prompt)]
    events = engine.generate(ids, SamplingParams(max_new_tokens=max_new, temperature=0.0))
    text = "".join(e["text"] for e in events)
    return text.split(stop)[0]


def test_a_template_cannot_reach_python_objects(lm, tmp_path):
    from lmcore.harness import load_task, run_task

    items = [{"q": "x", "choices": ["a", "b"], "gold": 0}]
    config = harness_config({"task": "escape", "output_type": "multiple_choice",
                             "doc_to_text": "{{ q.__class__.__mro__[1].__subclasses__() }}",
                             "doc_to_choice": "choices", "doc_to_target": "gold"},
                            tmp_path / "i.jsonl", tmp_path / "cache")  # fmt: skip
    (tmp_path / "i.jsonl").write_text(json.dumps(items[0]) + "\n", encoding="utf-8")
    with pytest.raises(Exception, match="unsafe|not safely|access to attribute"):
        run_task(lm, load_task(config))


@pytest.mark.slow  # lm-evaluation-harness indexes its thousands of tasks: tens of seconds
def test_an_unknown_task_and_an_unreachable_dataset_say_so(monkeypatch):
    from lmcore.errors import LmcoreError
    from lmcore.harness import load_task

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    with pytest.raises(LmcoreError, match="no_such_task: not a task lm-evaluation-harness knows"):
        load_task("no_such_task")
    with pytest.raises(LmcoreError, match="arc_easy: its dataset cannot be fetched"):
        load_task("arc_easy")


@pytest.mark.slow  # the harness's task index again (built once per process: shared with above)
def test_a_group_or_tag_names_the_tasks_to_pick(monkeypatch):
    from lmcore.errors import LmcoreError
    from lmcore.harness import load_task

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")  # said before any dataset is read
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    message = "lambada is a group of 2 tasks: lambada_openai, lambada_standard; pick one"
    with pytest.raises(LmcoreError, match=f"^{message}$"):
        load_task("lambada")  # a tag in lm_eval 0.4.13
    with pytest.raises(LmcoreError, match=r"^mmlu is a group of 57 tasks: mmlu_abstract_algebra, "
                       r".* and 45 more; pick one$"):  # fmt: skip
        load_task("mmlu")  # a group of groups
