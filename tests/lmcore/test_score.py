"""Scoring agrees with itself, with `evaluate` on the same ids, and with generation."""

import math

import numpy as np
import pytest

from lmcore.engine import Engine
from lmcore.errors import LmcoreError
from lmcore.evaluate import evaluate, token_byte_lengths
from lmcore.sampling import SamplingParams
from lmcore.score import bos_id_for, score

TEXT = "the cat ate the cheese, perché così 😀 and the mouse ate the cat! " * 8


@pytest.fixture
def scored(gen_model, small_tokenizer):
    ids = small_tokenizer.encode(TEXT)
    assert len(ids) > 2 * gen_model.config.context  # several of evaluate's windows
    return ids, score(gen_model, small_tokenizer.bytes_table(), ids)


def test_the_total_is_the_sum_of_the_tokens(scored):
    ids, result = scored
    values = [t["logprob"] for t in result["tokens"]]
    assert values[0] is None and all(v < 0 for v in values[1:])
    assert result["total_logprob"] == pytest.approx(math.fsum(values[1:]), rel=1e-9)
    assert result["bits"] == pytest.approx(-result["total_logprob"] / math.log(2))
    assert result["scored"] == len(ids) - 1


def test_it_agrees_with_evaluate_on_the_same_text(scored, gen_model, small_tokenizer):
    ids, result = scored
    lengths = token_byte_lengths(small_tokenizer.bytes_table())
    ev = evaluate(gen_model, np.array(ids), lengths, batch_size=2)
    assert ev.tokens == result["scored"] and ev.bytes == result["bytes"]
    assert -result["total_logprob"] / ev.tokens == pytest.approx(ev.loss, rel=1e-5)
    assert result["bpb"] == pytest.approx(ev.bpb, rel=1e-5)


def test_a_beginning_of_text_token_makes_every_token_scored(gen_model, small_tokenizer):
    ids, bos = small_tokenizer.encode("the cheese"), small_tokenizer.eot_id
    result = score(gen_model, small_tokenizer.bytes_table(), ids, bos_id=bos)
    assert result["scored"] == len(ids) and result["tokens"][0]["logprob"] is not None
    lengths = token_byte_lengths(small_tokenizer.bytes_table())
    ev = evaluate(gen_model, np.array([bos, *ids]), lengths)
    assert -result["total_logprob"] / ev.tokens == pytest.approx(ev.loss, rel=1e-5)
    assert result["bytes"] == len(b"the cheese")


def test_token_texts_join_to_the_text(scored):
    _, result = scored
    assert "".join(t["text"] for t in result["tokens"]) == TEXT


def test_scoring_a_generation_gives_its_logprobs(gen_model, small_tokenizer):
    table = small_tokenizer.bytes_table()
    prompt = small_tokenizer.encode("the mouse")
    events = Engine(gen_model, table).generate(prompt, SamplingParams(max_new_tokens=12, seed=3))
    generated = [e for e in events if e["event"] == "token"]
    result = score(gen_model, table, prompt + [e["id"] for e in generated])
    tail = result["tokens"][len(prompt) :]
    assert [t["logprob"] for t in tail] == pytest.approx(
        [e["logprob"] for e in generated], abs=1e-4
    )


def test_it_refuses_what_it_cannot_score(gen_model, small_tokenizer):
    table = small_tokenizer.bytes_table()
    with pytest.raises(LmcoreError, match="empty"):
        score(gen_model, table, [])
    with pytest.raises(LmcoreError, match="at least two tokens"):
        score(gen_model, table, [5])
    with pytest.raises(LmcoreError, match="outside the vocabulary"):
        score(gen_model, table, [5, len(table)])


def test_a_checkpoint_names_its_beginning_of_text_token():
    specials = {"<|endoftext|>": 256}
    assert bos_id_for({}, specials) is None
    assert bos_id_for({"bos_token": "<|endoftext|>"}, specials) == 256


def test_alternatives_are_the_most_likely_tokens_at_each_position(gen_model, small_tokenizer):
    table = small_tokenizer.bytes_table()
    prompt = small_tokenizer.encode("the mouse")
    greedy = SamplingParams(max_new_tokens=12, temperature=0, top_logprobs=3)
    events = Engine(gen_model, table).generate(prompt, greedy)
    generated = [e for e in events if e["event"] == "token"]
    result = score(gen_model, table, prompt + [e["id"] for e in generated], top_logprobs=3)
    assert result["tokens"][0]["top"] == []  # unscored first token
    for token, event in zip(result["tokens"][len(prompt) :], generated, strict=True):
        assert [t["id"] for t in token["top"]] == [t["id"] for t in event["top"]]
        assert token["top"][0]["id"] == token["id"]  # greedy picked the most likely
        assert token["top"][0]["logprob"] == pytest.approx(token["logprob"], abs=1e-6)
    assert "top" not in score(gen_model, table, prompt)["tokens"][1]
