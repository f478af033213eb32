"""lmcore.inspect_tokens: vocabulary rows, merge traces that agree with encode, bytes/token."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lmcore.errors import LmcoreError
from lmcore.inspect_tokens import (
    MAX_TRACE_BYTES,
    file_stats,
    merge_ranks,
    text_stats,
    token_text,
    trace,
    vocab_entries,
)

words = st.one_of(
    st.sampled_from(["the cheese", "perché", "kalomi", "città\r\n", "😀😀", "strstr", "aaaa"]),
    st.text(max_size=12),
)


@settings(max_examples=100, deadline=None)
@given(text=st.lists(words, max_size=4).map(" ".join))
def test_it_traces_to_exactly_the_tokens_encode_gives(small_tokenizer, text):
    steps = trace(small_tokenizer, text)
    assert steps[-1]["ids"] == small_tokenizer.encode(text)
    assert b"".join(small_tokenizer.token_bytes(i) for i in steps[0]["ids"]) == text.encode()
    assert all(len(small_tokenizer.token_bytes(i)) == 1 for i in steps[0]["ids"])


def test_it_traces_one_merge_at_a_time_in_rank_order(small_tokenizer):
    steps = trace(small_tokenizer, "kalomiré the cheese")
    assert steps[0]["rank"] is None and len(steps) > 3
    for before, after in zip(steps, steps[1:], strict=False):
        assert len(after["ids"]) == len(before["ids"]) - 1
        left, right = after["pair"]
        at = next(
            i for i in range(len(after["ids"]))
            if before["ids"][i : i + 2] == [left, right] and after["ids"][i] == after["merged"]
        )  # fmt: skip
        assert after["ids"][at + 1 :] == before["ids"][at + 2 :]
    ranks = [s["rank"] for s in steps[1:]]
    assert ranks == sorted(ranks)


def test_it_caps_trace_length_in_bytes(small_tokenizer):
    assert trace(small_tokenizer, "a" * MAX_TRACE_BYTES)
    with pytest.raises(LmcoreError, match=f"at most {MAX_TRACE_BYTES} bytes of text .*not 132"):
        trace(small_tokenizer, "é" * (MAX_TRACE_BYTES // 2 + 2))  # 66 characters, 132 bytes


def test_it_lists_the_vocabulary_with_bytes_and_ranks(small_tokenizer):
    rows = vocab_entries(small_tokenizer)
    assert [r["id"] for r in rows] == list(range(small_tokenizer.vocab_size))
    eot = rows[small_tokenizer.eot_id]
    assert eot["special"] and eot["rank"] is None and eot["token"] == "<|endoftext|>"
    merged = [r for r in rows if r["rank"] is not None]
    assert len(merged) == len(small_tokenizer.merges()) == len(merge_ranks(small_tokenizer))
    for row in rows:
        assert bytes.fromhex(row["bytes_hex"]) == small_tokenizer.token_bytes(row["id"])
    assert [r["id"] for r in vocab_entries(small_tokenizer, offset=300, limit=5)] == list(
        range(300, 305)
    )


def test_it_shows_a_token_holding_part_of_a_character_as_replacement(small_tokenizer):
    half = small_tokenizer.encode("\xff")[0]  # U+00FF is b"\xc3\xbf"; rarely merged
    assert token_text(small_tokenizer, half) in {"\ufffd", "\xff"}


def test_it_measures_bytes_per_token(small_tokenizer, corpus_file):
    stats = text_stats(small_tokenizer, "the cheese")
    assert stats["bytes"] == 10 and stats["tokens"] == len(small_tokenizer.encode("the cheese"))
    whole = file_stats(small_tokenizer, [corpus_file])
    text = corpus_file.read_bytes().decode("utf-8")  # keeps \r\n
    assert whole["tokens"] == len(small_tokenizer.encode(text))
    assert whole["bytes_per_token"] == round(whole["bytes"] / whole["tokens"], 4) > 1.5
