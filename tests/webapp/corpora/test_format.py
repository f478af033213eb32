"""Sizes and counts as the corpus pages write them."""

from webapp.corpora.templatetags.corpora_format import plural
from webapp.web.sizes import format_bytes, format_sizes


def test_configured_binary_sizes_read_exactly():
    assert format_bytes(2**30) == "1 GiB" and format_bytes(5 * 2**30) == "5 GiB"
    assert format_bytes(8 * 2**20) == "8 MiB" and format_bytes(3 * 2**29) == "1.5 GiB"
    assert format_bytes(12_345_678) == "12.3 MB" and format_bytes(1) == "1 byte"
    assert format_bytes(2**30 + 1) == "1.07 GB"  # an arbitrary file's size stays decimal


def test_sizes_that_would_read_equal_are_written_exactly():
    assert format_sizes(50_000_001, 50_000_000) == ["50,000,001 bytes", "50,000,000 bytes"]
    assert format_sizes(60_000_000, 50_000_000) == ["60 MB", "50 MB"]


def test_counts_agree_with_their_noun():
    assert [plural(n, "line") for n in (0, 1, 2, 1000)] == ["0 lines", "1 line", "2 lines",
                                                            "1,000 lines"]  # fmt: skip
    assert plural(None, "line") == "–"
