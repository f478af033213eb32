"""lm-evaluation-harness's own `local-completions` against the live API at the default limits
(issue 25): echo requests that also generate count once, so a task of 10 two-choice items (20
requests) fits the default 30 a minute; its accuracy and every log-likelihood equal the
in-process adapter's (lmcore/harness.py). A key an administrator gave a rate has that rate."""

from __future__ import annotations

import json
import time
from pathlib import Path

import openai
import pytest
from django.conf import settings

from tests.webapp.api.conftest import client_for, daphne, issue_key
from tests.webapp.fixtures_ml import wait_for

pytestmark = pytest.mark.django_db(transaction=True)

WORDS = ["the", "mouse", "ate", "cheese", "cat", "città", "perché", "naïve", "and"]
TASK = {
    "task": "words_mc",
    "output_type": "multiple_choice",
    "doc_to_text": "{{context}}",
    "doc_to_choice": "{{choices}}",
    "doc_to_target": "gold",
}


@pytest.fixture(scope="module")
def default_api_url(services, django_db_setup, api_media, tmp_path_factory):
    """daphne at the server's default request rate (the other API tests raise it)."""
    log = tmp_path_factory.mktemp("daphne-default") / "daphne.log"
    rate = str(settings.PLAYGROUND_REQUESTS_PER_MINUTE)
    with daphne(services, api_media, log, BOTTEGA_PLAYGROUND_REQUESTS_PER_MINUTE=rate) as url:
        yield url


def write_task(directory: Path) -> tuple[dict, Path]:
    items = [{"context": " ".join(WORDS[i : i + 3]), "choices": [WORDS[i + 3], WORDS[i + 4]],
              "gold": i % 2} for i in range(10) if i + 4 < len(WORDS)] * 2  # fmt: skip
    items = items[:10]
    path = directory / "words.jsonl"
    path.write_text("".join(json.dumps(i, ensure_ascii=False) + "\n" for i in items), "utf-8")
    return TASK, path


def test_lm_eval_local_completions_runs_at_the_default_limits_and_agrees_in_process(
    default_api_url, alice, version, celery_worker, tmp_path, monkeypatch
):
    import lm_eval
    from lm_eval.tasks import TaskManager

    from lmcore.checkpoint import load_checkpoint
    from lmcore.harness import LmcoreLM, load_task, run_task
    from lmcore.hf_export import export_hf
    from lmcore.taskfiles import harness_config

    assert settings.PLAYGROUND_REQUESTS_PER_MINUTE == 30  # the default, as shipped
    config, items = write_task(tmp_path)
    task = harness_config(config, items, tmp_path / "cache")
    export_hf(version.directory, tmp_path / "hf")  # what "Download for transformers" serves
    monkeypatch.setenv("OPENAI_API_KEY", issue_key(alice))
    over_api = lm_eval.simple_evaluate(
        model="local-completions",
        model_args={"model": "tiny", "base_url": f"{default_api_url}/v1/completions",
                    "tokenizer": str(tmp_path / "hf"), "tokenizer_backend": "huggingface",
                    "tokenized_requests": False, "num_concurrent": 1, "max_length": 64,
                    "max_retries": 1},  # a 429 fails the run: no retry past the minute
        tasks=[task], task_manager=TaskManager(include_defaults=False), log_samples=True,
        bootstrap_iters=100,
    )  # fmt: skip
    assert over_api["n-samples"]["words_mc"]["effective"] == 10  # 20 requests, none refused
    in_process = run_task(LmcoreLM(load_checkpoint(version.directory)), load_task(task))
    api_acc = over_api["results"]["words_mc"]["acc,none"]
    assert api_acc == in_process["metrics"]["acc"]["value"]
    api_lls = {s["doc_id"]: [r[0] for r in s["filtered_resps"]]
               for s in over_api["samples"]["words_mc"]}  # fmt: skip
    for item in in_process["samples"]:
        assert item["loglikelihoods"] == pytest.approx(api_lls[item["doc_id"]], abs=1e-4)


def test_a_key_given_a_rate_has_that_rate(api_url, alice, version, celery_worker):
    from webapp.api.models import ApiKey

    wait_for(lambda: time.time() % 60 < 40, timeout=25)  # three requests in one minute window
    raw = issue_key(alice, "slow")
    ApiKey.objects.filter(owner=alice, name="slow").update(requests_per_minute=2)
    client = client_for(api_url, raw)
    for _ in range(2):  # each an echo that also generates: one request each
        client.completions.create(model="tiny", prompt="the cat", max_tokens=1, echo=True,
                                  logprobs=1, seed=1)  # fmt: skip
    with pytest.raises(openai.RateLimitError, match="at most 2 requests a minute"):
        client.completions.create(model="tiny", prompt="the cat", max_tokens=1)
    client.close()
