"""The streaming validator and statistics, on files written for each case (no database)."""

import codecs
import hashlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from webapp.corpora.scan import scan_file
from webapp.corpora.sniff import Rejected, sniff_head


def scan(tmp_path, data: bytes, block_bytes=1 << 20):
    src, dst = tmp_path / "in.part", tmp_path / "out.tmp"
    src.write_bytes(data)
    return scan_file(src, dst, block_bytes=block_bytes)


def rejection(tmp_path, data: bytes, block_bytes=1 << 20) -> str:
    with pytest.raises(Rejected) as info:
        scan(tmp_path, data, block_bytes)
    assert not (tmp_path / "out.tmp").exists()  # nothing half-written left behind
    return info.value.message


def test_it_measures_a_text(tmp_path):
    result = scan(tmp_path, "the cat\nthe cat\n \nsat on the mat é\n".encode())
    stats = result.stats
    assert stats["bytes"] == 36 and stats["characters"] == 35
    assert stats["lines"] == 4 and stats["blank_lines"] == 1
    assert stats["words"] == 9
    assert stats["duplicate_line_share"] == pytest.approx(1 / 3)
    assert stats["char_counts"][0] == [" ", 7]
    assert stats["distinct_characters"] == len(set("the cat\n sat on the mat é"))
    assert stats["scripts"] == [["Latin", 1.0]]
    assert (
        result.sha256
        == hashlib.sha256("the cat\nthe cat\n \nsat on the mat é\n".encode()).hexdigest()
    )
    assert not result.rewritten and result.notice == ""


@settings(max_examples=60, deadline=None)
@given(
    text=st.text(st.characters(blacklist_categories=["Cs", "Cc"]), min_size=1),
    block=st.integers(1, 9),
)
def test_it_counts_the_same_whatever_the_block_size(tmp_path_factory, text, block):
    tmp_path = tmp_path_factory.mktemp("scan")
    data = ("x" + text).encode()
    whole, pieces = scan(tmp_path, data).stats, scan(tmp_path, data, block_bytes=block).stats
    for key in (
        "characters",
        "lines",
        "words",
        "blank_lines",
        "distinct_characters",
        "duplicate_line_share",
        "char_counts",
    ):
        assert whole[key] == pieces[key], key
    text = "x" + text
    assert whole["words"] == len(text.split())
    assert whole["lines"] == text.count("\n") + (not text.endswith("\n"))


@pytest.mark.parametrize(
    "encoding, name",
    [("utf-16-le", "UTF-16 LE"), ("utf-16-be", "UTF-16 BE"), ("utf-32-le", "UTF-32 LE")],
)
def test_it_transcodes_utf16_and_utf32_with_a_byte_order_mark(tmp_path, encoding, name):
    text = "Grüße, 世界!\n" * 1000
    result = scan(tmp_path, "\ufeff".encode(encoding) + text.encode(encoding), block_bytes=333)
    assert (tmp_path / "out.tmp").read_bytes() == text.encode()
    assert result.rewritten and result.notice.startswith(f"Transcoded from {name}")
    assert result.stats["characters"] == len(text) and result.stats["bytes"] == len(text.encode())
    assert result.sha256 == hashlib.sha256(text.encode()).hexdigest()


def test_it_strips_a_utf8_byte_order_mark(tmp_path):
    result = scan(tmp_path, codecs.BOM_UTF8 + b"hello\n")
    assert (tmp_path / "out.tmp").read_bytes() == b"hello\n"
    assert result.stats["source_encoding"] == "utf-8-sig" and "byte order mark" in result.notice


def test_it_gives_the_offset_and_context_of_invalid_utf8_deep_in_a_large_file(tmp_path):
    data = b"a" * 3_000_001 + b"caf\xe9 au lait" + b"b" * 1000
    message = rejection(tmp_path, data, block_bytes=64 * 1024)
    assert "Not valid UTF-8: byte E9 at offset 3,000,004" in message
    assert "just after “aaaaaaaaaaaaaaaaaaaaacaf”" in message
    assert "re-save it as UTF-8" in message


def test_it_rejects_a_character_cut_at_the_end(tmp_path):
    assert "bytes E2 82 at offset 4" in rejection(tmp_path, b"abc \xe2\x82", block_bytes=5)


@pytest.mark.parametrize(
    "data, expected",
    [
        (b"", "The file is empty."),
        (codecs.BOM_UTF8, "The file holds only a byte order mark."),
        (b" \n\t\n", "only whitespace"),
        (b"text\x00more", "NUL character at byte offset 4"),
        ("\ufeffab\x00".encode("utf-16-le"), "NUL character at character offset 2"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "This file is a PNG image, not text."),
        (b"PK\x03\x04\x14\x00", "ZIP archive"),
        (b"ab\x01\x02\x03\x04cd", "control codes"),
        ("\ufeffab".encode("utf-16-le") + b"\x00", "Not valid UTF-16 LE at byte offset 6"),
    ],
)
def test_it_rejects_what_is_not_text_with_a_reason(tmp_path, data, expected):
    assert expected in rejection(tmp_path, data)


def test_it_counts_a_huge_line_without_keeping_it(tmp_path, monkeypatch):
    monkeypatch.setattr("webapp.corpora.scan.LONG_LINE_CHARS", 100)
    data = ("y" * 500 + "\n") * 2 + "short\nshort\n"
    stats = scan(tmp_path, data.encode(), block_bytes=64).stats
    assert stats["lines"] == 4
    assert stats["duplicate_line_share"] == pytest.approx(1 / 4)  # long lines count as distinct


def test_the_first_chunk_check_refuses_binary_and_accepts_a_cut_character():
    sniff_head("héllo".encode()[:2], complete=False)
    sniff_head("\ufeffhi".encode("utf-16-le"), complete=True)  # left to the full validation
    with pytest.raises(Rejected, match="PNG image"):
        sniff_head(b"\x89PNG\r\n\x1a\n", complete=False)
    with pytest.raises(Rejected, match="byte E9 at offset 3"):
        sniff_head(b"caf\xe9!", complete=False)
    with pytest.raises(Rejected, match="NUL character at byte offset 2"):
        sniff_head(b"ab\x00", complete=False)
