"""Engine events: text, stop strings, end of text, seeds, alternatives and refusals."""

import pytest

from lmcore.engine import Engine, wire_token
from lmcore.errors import LmcoreError
from lmcore.sampling import SamplingParams

EMOJI = "😀".encode()


def two_letter_table(vocab_size: int) -> list[bytes]:
    """Every token is two ASCII letters: stop strings can straddle any boundary."""
    return [f"{chr(97 + i % 26)}{chr(65 + i // 26 % 26)}".encode() for i in range(vocab_size)]


def token_events(events):
    return [e for e in events if e["event"] == "token"]


def run(engine, prompt, **kw):
    events = list(engine.generate(prompt, SamplingParams(**kw)))
    return token_events(events), events[-1]


def test_the_stream_joins_to_the_decoded_ids(gen_model, small_tokenizer):
    engine = Engine(gen_model, small_tokenizer.bytes_table())
    toks, last = run(engine, small_tokenizer.encode("the cat"), max_new_tokens=80, seed=4)
    text = "".join(e["text"] for e in toks)
    assert text == small_tokenizer.decode([e["id"] for e in toks])
    assert all(bytes.fromhex(e["bytes"]) == small_tokenizer.token_bytes(e["id"]) for e in toks)
    assert last["text"] == ""


def test_a_token_ending_inside_a_character_releases_nothing(gen_model):
    # Tokens are halves of an emoji or of "é": whatever is sampled, a half shows nothing.
    halves = [EMOJI[:2], EMOJI[2:], "é".encode()[:1], "é".encode()[1:], b"a"]
    table = [halves[i % len(halves)] for i in range(gen_model.config.vocab_size)]
    toks, _ = run(Engine(gen_model, table), [1, 2, 3], max_new_tokens=150, seed=0)
    pieces = [bytes.fromhex(e["bytes"]) for e in toks]
    assert "".join(e["text"] for e in toks) == b"".join(pieces).decode("utf-8", "replace")
    split = [i for i in range(len(toks) - 1) if pieces[i : i + 2] == [EMOJI[:2], EMOJI[2:]]]
    assert split  # the seed yields some emoji cut in two
    for i in split:  # "\ufffd": an earlier half "é" that the emoji's first byte broke
        assert toks[i]["text"] in ("", "\ufffd") and toks[i + 1]["text"].startswith("😀")


def test_a_stop_string_across_tokens_ends_the_text_before_it(gen_model):
    table = two_letter_table(gen_model.config.vocab_size)
    engine = Engine(gen_model, table)
    toks, _ = run(engine, [1, 2, 3], max_new_tokens=30, temperature=0)
    full = "".join(e["text"] for e in toks)
    stop = full[9:11]  # the last letter of token 5 and the first of token 6
    toks, last = run(engine, [1, 2, 3], max_new_tokens=30, temperature=0, stop=["zz", stop])
    assert "".join(e["text"] for e in toks) == full[: full.index(stop)]
    assert last["reason"] == "stop" and last["tokens"] == len(toks) <= 6


def test_an_end_of_text_token_ends_the_stream_without_text(gen_model, small_tokenizer):
    table = small_tokenizer.bytes_table()
    first = run(Engine(gen_model, table), [5, 6], max_new_tokens=1, temperature=0)[0][0]["id"]
    engine = Engine(gen_model, table, end_ids=[first])
    toks, last = run(engine, [5, 6], max_new_tokens=10, temperature=0)
    assert [e["id"] for e in toks] == [first] and toks[0]["text"] == ""
    assert last["reason"] == "end_of_text" and last["tokens"] == 1


def test_the_same_seed_gives_the_same_text_even_interleaved(gen_model, small_tokenizer):
    engine = Engine(gen_model, small_tokenizer.bytes_table())
    params = SamplingParams(max_new_tokens=25, seed=42, temperature=1.2)
    alone = [e["id"] for e in token_events(engine.generate([9, 8, 7], params))]
    a = engine.generate([9, 8, 7], params)
    b = engine.generate([1, 2], SamplingParams(max_new_tokens=25, seed=42))
    mixed = []
    for ea, _ in zip(a, b, strict=False):  # one step of each, in turn
        mixed.append(ea)
    mixed += list(a)
    assert [e["id"] for e in token_events(mixed)] == alone
    params.seed = 43
    assert [e["id"] for e in token_events(engine.generate([9, 8, 7], params))] != alone


def test_top_k_one_is_greedy(gen_model, small_tokenizer):
    engine = Engine(gen_model, small_tokenizer.bytes_table())
    greedy, _ = run(engine, [3, 4, 5], max_new_tokens=20, temperature=0)
    top1, _ = run(engine, [3, 4, 5], max_new_tokens=20, temperature=1.5, top_k=1, seed=9)
    assert [e["id"] for e in top1] == [e["id"] for e in greedy]
    assert all(e["sample_logprob"] == 0.0 for e in top1)


def test_alternatives_carry_both_logprobs(gen_model, small_tokenizer):
    engine = Engine(gen_model, small_tokenizer.bytes_table())
    toks, _ = run(engine, [3, 4, 5], max_new_tokens=5, top_k=3, top_logprobs=6, seed=1)
    for e in toks:
        top = e["top"]
        assert len(top) == 6 and [t["logprob"] for t in top] == sorted(
            (t["logprob"] for t in top), reverse=True
        )
        assert all(t["sample_logprob"] is not None for t in top[:3])
        assert all(t["sample_logprob"] is None for t in top[3:])
        assert e["id"] in [t["id"] for t in top[:3]] and e["sample_logprob"] >= e["logprob"]
    assert set(wire_token(toks[0])) == {"id", "bytes", "text", "logprob", "sample_logprob", "top"}


def test_an_empty_prompt_needs_a_beginning_of_text_token(gen_model, small_tokenizer):
    table = small_tokenizer.bytes_table()
    with pytest.raises(LmcoreError, match="empty prompt"):
        Engine(gen_model, table).generate([], SamplingParams())
    bos = small_tokenizer.eot_id
    toks, _ = run(Engine(gen_model, table, bos_id=bos), [], max_new_tokens=3, temperature=0)
    assert len(toks) == 3


def test_it_refuses_bad_input_before_generating(gen_model, small_tokenizer):
    table = small_tokenizer.bytes_table()
    with pytest.raises(LmcoreError, match="do not belong together"):
        Engine(gen_model, table[:-1])
    engine = Engine(gen_model, table)
    with pytest.raises(LmcoreError, match="outside the vocabulary"):
        engine.generate([len(table)], SamplingParams())
    with pytest.raises(LmcoreError, match="top_p"):
        engine.generate([1], SamplingParams(top_p=0))
    with pytest.raises(LmcoreError, match="between 1 and 50"):
        Engine(gen_model, table, max_new_tokens_cap=50).generate([1], SamplingParams())
