"""Request bodies into task settings, without a server: the mapping rules and the refusals."""

import pytest

from lmcore.config import SamplingParams
from webapp.api.errors import ApiError, InvalidFields
from webapp.api.schema import parse_body, parse_chat, parse_completion

USER = [{"role": "user", "content": "hi"}]


def test_openai_defaults_and_the_mapping_to_sampling_settings():
    req = parse_completion({"model": "tiny", "prompt": "the", "temperature": 0.005, "top_p": 0,
                            "seed": 5, "n": 2, "stop": "\n"})  # fmt: skip
    assert req.max_tokens == 16 and req.prompts == ["the"] and req.stop == ["\n"]
    first, second = req.params(0), req.params(1)
    assert first["temperature"] == 0.0  # below lmcore's floor: greedy
    assert 0 < first["top_p"] < 1e-6  # 0: only the most likely token survives
    assert (first["seed"], second["seed"]) == (5, 6)
    assert parse_completion({"model": "m", "prompt": "x", "seed": None}).params(1)["seed"] is None


def test_chat_takes_max_completion_tokens_text_parts_and_developer_messages():
    req = parse_chat({"model": "m", "max_tokens": 5, "max_completion_tokens": 7, "messages": [
        {"role": "developer", "content": [{"type": "text", "text": "be "}, {"type": "text", "text": "kind"}]},
        {"role": "user", "content": "hi", "name": "ann"}]})  # fmt: skip
    assert req.max_tokens == 7
    assert req.messages == [
        {"role": "system", "content": "be kind"},
        {"role": "user", "content": "hi"},
    ]


@pytest.mark.parametrize(
    "body, field, words",
    [
        ({"prompt": "x"}, "model", "is required"),
        ({"model": "m", "prompt": [1, 2]}, "prompt", "token id prompts are not supported"),
        ({"model": "m", "prompt": ["a"] * 5, "n": 2}, "prompt", "prompts x n is 10"),
        ({"model": "m", "prompt": "x", "stream_options": {"include_usage": True}},
         "stream_options", "only allowed when stream is true"),
        ({"model": "m", "prompt": "x", "logit_bias": {"1": 5}}, "logit_bias", "not supported"),
        ({"model": "m", "prompt": "x", "best_of": 3}, "best_of", "not supported"),
        ({"model": "m", "prompt": "x", "seed": -1}, "seed", "must be between 0 and"),
        ({"model": "m", "prompt": "x", "top_p": "all"}, "top_p", "must be a number, not 'all'"),
        ({"model": "m", "prompt": "x", "stop": ["a", 1]}, "stop", "a list of strings"),
        ({"model": "m", "prompt": "x", "echo": "yes"}, "echo", "true or false"),
    ],
)  # fmt: skip
def test_completion_refusals_name_the_field(body, field, words):
    with pytest.raises(InvalidFields) as caught:
        parse_completion(body)
    assert words in caught.value.problems[field]


@pytest.mark.parametrize(
    "body, field, words",
    [
        ({"model": "m", "messages": []}, "messages", "list of 1 to 64"),
        ({"model": "m", "messages": [{"role": "tool", "content": "x"}]}, "messages[0].role", "tool"),
        ({"model": "m", "messages": [{"role": "user", "content": 3}]}, "messages[0].content", "string"),
        ({"model": "m", "messages": [*USER, {"role": "assistant", "content": "a"}]}, "messages",
         "the last message must be the user's"),
        ({"model": "m", "messages": [*USER, *USER]}, "messages", "expected the assistant"),
        ({"model": "m", "messages": USER, "tools": [{"type": "function"}]}, "tools", "not supported"),
        ({"model": "m", "messages": USER, "max_tokens": 0}, "max_tokens", "between 1 and 1024"),
        ({"model": "m", "messages": USER, "max_completion_tokens": 0}, "max_completion_tokens",
         "between 1 and 1024"),
    ],
)  # fmt: skip
def test_chat_refusals_name_the_field(body, field, words):
    with pytest.raises(InvalidFields) as caught:
        parse_chat(body)
    assert words in caught.value.problems[field]


def test_bodies_must_be_json_objects():
    for body in (b"{", b"[1]", "é".encode("latin-1")):
        with pytest.raises(ApiError, match="JSON"):
            parse_body(body)


def test_sampling_ranges_are_lmcores_named_by_the_api_field():
    """One rule: what the API refuses and how it says so is `SamplingParams.problems`, under
    the request's own field names; OpenAI's narrower ranges (temperature 0 to 2, four stop
    strings, legacy logprobs up to 5) are not a second rule (docs/architecture.md)."""
    bad = {"temperature": -1.0, "top_p": 1.5, "top_k": -1, "repetition_penalty": 1000.0,
           "stop": ["s"] * 9, "seed": 2**64}  # fmt: skip
    with pytest.raises(InvalidFields) as caught:
        parse_completion({"model": "m", "prompt": "x", "max_tokens": 2000, "logprobs": 21, **bad})
    lmcore = SamplingParams(max_new_tokens=2000, top_logprobs=21, **bad).problems(1024)
    assert caught.value.problems == {
        {"max_new_tokens": "max_tokens", "top_logprobs": "logprobs"}.get(k, k): why
        for k, why in lmcore.items()
    }
    assert len(caught.value.problems) == 8
    with pytest.raises(InvalidFields) as caught:
        parse_chat({"model": "m", "messages": USER, "logprobs": True, "top_logprobs": 21})
    assert caught.value.problems == {"top_logprobs": "must be between 0 and 20, not 21"}

    wide = parse_completion({"model": "m", "prompt": "x", "temperature": 3.5, "logprobs": 20,
                             "stop": ["s"] * 8, "top_k": 2**40, "repetition_penalty": 50})  # fmt: skip
    assert wide.params(0)["temperature"] == 3.5 and wide.params(0)["top_logprobs"] == 20
    assert len(wide.params(0)["stop"]) == 8
    SamplingParams.from_dict(wide.params(0)).validate(1024)  # what the worker checks again


def test_openai_values_lmcore_reads_otherwise_are_mapped_not_refused():
    req = parse_chat({"model": "m", "messages": USER, "temperature": 0.001, "top_p": 0})
    params = req.params(0)
    assert params["temperature"] == 0.0 and 0 < params["top_p"] < 1e-6
    SamplingParams.from_dict(params).validate(1024)
    score_only = parse_completion({"model": "m", "prompt": "x", "max_tokens": 0, "echo": True})
    assert score_only.max_tokens == 0  # lmcore's 1 to cap is for generating; 0 only scores
