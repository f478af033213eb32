"""lmcore.corpus_text: text of corpus files read in blocks, and chunk cuts that keep encoding."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lmcore import corpus_text
from lmcore.corpus_text import iter_chunks, iter_text, safe_cut
from lmcore.errors import LmcoreError

pieces = st.sampled_from(["the", " cat", "\n", "\r\n", "  ", "\t", "perché", "😀", "!", "'s", "42"])
texts = st.lists(st.one_of(pieces, st.text(max_size=5)), max_size=30).map("".join)


@settings(max_examples=150, deadline=None)
@given(text=texts, limit=st.integers(min_value=1, max_value=60))
def test_it_cuts_chunks_only_where_encoding_does_not_change(small_tokenizer, text, limit):
    cut = safe_cut(text, limit)
    if cut < limit:  # a safe place was found; `limit` itself is the documented fallback
        enc = small_tokenizer.encode
        assert enc(text[:cut]) + enc(text[cut:]) == enc(text)


def _is_safe(text: str, p: int) -> bool:
    after_newline = text[p - 1] == "\n" and not text[p].isspace()
    return after_newline or (text[p] == " " and not text[p - 1].isspace())


@settings(max_examples=100, deadline=None)
@given(
    blocks=st.lists(texts, min_size=1, max_size=6), target=st.integers(min_value=1, max_value=40)
)
def test_it_chunks_streams_without_changing_their_encoding(small_tokenizer, blocks, target):
    text = "".join(blocks)
    chunks = list(iter_chunks(blocks, target))
    assert "".join(chunks) == text and all(0 < len(c) <= target for c in chunks)
    ends = [sum(map(len, chunks[: k + 1])) for k in range(len(chunks) - 1)]
    # A cut is a safe place, or a full-length fallback when the window had none.
    assert all(_is_safe(text, p) or len(c) == target for p, c in zip(ends, chunks, strict=False))
    if all(_is_safe(text, p) for p in ends):
        encoded = [i for chunk in chunks for i in small_tokenizer.encode(chunk)]
        assert encoded == small_tokenizer.encode(text)


@pytest.fixture
def tiny_blocks(monkeypatch):
    monkeypatch.setattr(corpus_text, "READ_BLOCK_BYTES", 7)  # splits multi-byte characters


def test_it_reads_text_in_blocks_across_files(tmp_path, tiny_blocks):
    a, b = tmp_path / "a.txt", tmp_path / "b.txt"
    a.write_text("perché 😀 città\r\n", encoding="utf-8", newline="")
    b.write_text("日本語 end", encoding="utf-8")
    whole = a.read_bytes() + b.read_bytes()
    assert "".join(iter_text([a, b])).encode() == whole
    assert "".join(iter_text([a, b], 7, 30)).encode() == whole[7:30]
    assert "".join(iter_chunks(iter_text([a, b]), 5)).encode() == whole


def test_it_reports_the_offset_of_bad_utf8_in_a_later_block(tmp_path, tiny_blocks):
    path = tmp_path / "bad.txt"
    path.write_bytes("ééééé".encode() + b"\xe2\x82" + b"x")
    with pytest.raises(LmcoreError, match=r"bad.txt: not valid UTF-8 at byte 10"):
        list(iter_text([path]))
    path.write_bytes(b"abc\xe2\x82")  # truncated at the very end
    with pytest.raises(LmcoreError, match="at byte 3"):
        list(iter_text([path]))
