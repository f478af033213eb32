"""/v1/completions through daphne, the real worker and the `openai` client."""

import json
import math
import os
import subprocess
import sys

import pytest

from tests.webapp.api.conftest import ROOT

pytestmark = pytest.mark.django_db(transaction=True)


def test_it_completes_a_prompt(alice_api, version):
    answer = alice_api.completions.create(model="tiny", prompt="the mouse", max_tokens=8, seed=3)
    assert answer.object == "text_completion" and answer.model == "tiny:v1"
    (choice,) = answer.choices
    assert (
        choice.index == 0 and choice.finish_reason in ("length", "stop") and choice.logprobs is None
    )
    assert answer.usage.completion_tokens == 8 or choice.finish_reason == "stop"
    assert answer.usage.prompt_tokens > 0
    assert answer.usage.total_tokens == answer.usage.prompt_tokens + answer.usage.completion_tokens


def test_the_same_seed_gives_the_same_text(alice_api, version):
    def run(seed):
        return alice_api.completions.create(model="tiny:v1", prompt="the", max_tokens=20,
                                            temperature=1.0, seed=seed).choices[0].text  # fmt: skip

    first = run(7)
    assert run(7) == first
    assert run(8) != first  # 20 tokens of a 300-token vocabulary: a collision would be a bug


def test_it_streams_the_same_text_it_answers_whole(alice_api, version):
    settings = {"model": "tiny", "prompt": "the cat", "max_tokens": 30, "seed": 5, "logprobs": 2}
    whole = alice_api.completions.create(**settings)
    chunks = list(alice_api.completions.create(**settings, stream=True,
                                               stream_options={"include_usage": True}))  # fmt: skip
    *pieces, usage = chunks
    assert usage.choices == [] and usage.usage.completion_tokens == whole.usage.completion_tokens
    assert all(c.object == "text_completion" and c.id == pieces[0].id for c in pieces)
    assert "".join(c.choices[0].text for c in pieces) == whole.choices[0].text
    assert pieces[-1].choices[0].finish_reason == whole.choices[0].finish_reason
    streamed = [t for c in pieces if c.choices[0].logprobs for t in c.choices[0].logprobs.tokens]
    assert streamed == whole.choices[0].logprobs.tokens


def test_legacy_logprobs_have_openais_shape(alice_api, version):
    answer = alice_api.completions.create(model="tiny", prompt="the", max_tokens=10, logprobs=3,
                                          temperature=0)  # fmt: skip
    lp = answer.choices[0].logprobs
    assert len(lp.tokens) == len(lp.token_logprobs) == len(lp.top_logprobs) == len(lp.text_offset)
    assert len(lp.tokens) == answer.usage.completion_tokens
    assert lp.text_offset[0] == len("the")  # offsets count the prompt, as OpenAI's do
    for _token, logprob, top in zip(lp.tokens, lp.token_logprobs, lp.top_logprobs, strict=True):
        assert len(top) == 3 and logprob <= 0
        # Greedy: the chosen token is the most likely one.
        assert max(top.values()) == pytest.approx(logprob, abs=1e-6)


def test_settings_lmcore_takes_beyond_openais_ranges_are_served(alice_api, version):
    """The API's ranges are lmcore's (docs/architecture.md): a temperature above OpenAI's 2,
    more alternatives than legacy logprobs' 5, more than 4 stop strings reach the worker and
    are served (echo scores the prompt with those alternatives too)."""
    answer = alice_api.completions.create(model="tiny", prompt="the mouse", max_tokens=6, seed=2,
                                          temperature=3.5, logprobs=12, echo=True,
                                          stop=[f"zz{i}" for i in range(8)])  # fmt: skip
    lp = answer.choices[0].logprobs
    assert lp.tokens and all(len(top) == 12 for top in lp.top_logprobs[1:])


def test_echo_scores_the_prompt_as_lmcore_score_does(alice_api, version):
    text = "the mouse ate the cheese, perché naïve 🙂"
    answer = alice_api.completions.create(model="tiny", prompt=text, max_tokens=0, echo=True,
                                          logprobs=2)  # fmt: skip
    (choice,) = answer.choices
    assert choice.text == text and choice.finish_reason == "length"
    cli = subprocess.run(
        [sys.executable, "-m", "lmcore", "score", "--checkpoint", str(version.directory),
         "--text", text, "--device", "cpu"],
        cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)}, capture_output=True, text=True,
        timeout=120, check=True,
    )  # fmt: skip
    expected = [t["logprob"] for t in json.loads(cli.stdout)["tokens"]]
    got = choice.logprobs.token_logprobs
    assert len(got) == len(expected) == answer.usage.prompt_tokens > 3
    for a, b in zip(got, expected, strict=True):
        assert (a is None and b is None) or math.isclose(a, b, abs_tol=1e-4)
    # Alternatives at each scored position, as evaluation harnesses read them ("is greedy?").
    tops = choice.logprobs.top_logprobs
    assert tops[0] is None and all(len(t) == 2 for t in tops[1:])
    assert all(max(t.values()) >= lp - 1e-6 for t, lp in zip(tops[1:], got[1:], strict=True))
    offsets = choice.logprobs.text_offset
    assert offsets[0] == 0 and offsets == sorted(offsets) and offsets[-1] < len(text)


def test_echo_with_a_completion_puts_the_prompt_first(alice_api, version):
    answer = alice_api.completions.create(model="tiny", prompt="the cat", max_tokens=5, echo=True,
                                          logprobs=1, seed=1)  # fmt: skip
    choice = answer.choices[0]
    assert choice.text.startswith("the cat")
    lp = choice.logprobs
    assert len(lp.tokens) == answer.usage.prompt_tokens + answer.usage.completion_tokens
    echoed = answer.usage.prompt_tokens
    assert "".join(lp.tokens[:echoed]) == "the cat"  # ASCII: each prompt token is whole text
    assert lp.token_logprobs[0] is None and all(x <= 0 for x in lp.token_logprobs[1:])
    assert lp.top_logprobs[echoed:] and all(len(t) == 1 for t in lp.top_logprobs[echoed:])


def test_stop_strings_end_the_text_before_them(alice_api, version):
    free = alice_api.completions.create(model="tiny", prompt="the", max_tokens=40, seed=2,
                                        temperature=1.0).choices[0].text  # fmt: skip
    stop = free.strip()[3:5]  # two characters the model is known to write with this seed
    assert len(stop) == 2
    stopped = alice_api.completions.create(model="tiny", prompt="the", max_tokens=40, seed=2,
                                           temperature=1.0, stop=[stop, "zzzz"]).choices[0]  # fmt: skip
    assert stopped.finish_reason == "stop" and stop not in stopped.text
    assert free.startswith(stopped.text) and free[len(stopped.text) :].startswith(stop)


def test_n_choices_for_each_prompt(alice_api, version):
    answer = alice_api.completions.create(model="tiny", prompt=["the", "a cat"], n=2,
                                          max_tokens=6, seed=11)  # fmt: skip
    assert [c.index for c in answer.choices] == [0, 1, 2, 3]
    first, second = answer.choices[0].text, answer.choices[1].text
    assert first != second  # seeds 11 and 12
    again = alice_api.completions.create(model="tiny", prompt="the", max_tokens=6, seed=12)
    assert again.choices[0].text == second
