"""TextStream: UTF-8-safe release of token bytes, stop strings across token boundaries."""

from hypothesis import given
from hypothesis import strategies as st

from lmcore.textstream import TextStream, token_texts

EMOJI = "😀".encode()  # f0 9f 98 80


def stream_all(pieces, stop=()):
    stream = TextStream(stop)
    texts = [stream.push(p) for p in pieces]
    return texts, stream.flush(), stream


def test_it_holds_a_split_emoji_until_it_completes():
    texts, tail, _ = stream_all([b"a" + EMOJI[:2], EMOJI[2:3], EMOJI[3:] + b"b"])
    assert texts == ["a", "", "😀b"] and tail == ""


def test_it_releases_a_cut_character_at_the_end_as_replacement():
    texts, tail, _ = stream_all([b"ok", EMOJI[:3]])
    assert texts == ["ok", ""] and tail == "\ufffd"


def test_it_marks_invalid_bytes_where_decode_does():
    pieces = [b"\xff", b"a\xc3", b"(", b"\xe2\x82"]
    texts, tail, _ = stream_all(pieces)
    assert "".join(texts) + tail == b"".join(pieces).decode("utf-8", errors="replace")


@given(st.lists(st.binary(max_size=6), max_size=12))
def test_the_stream_joins_to_the_whole_decode(pieces):
    texts, tail, _ = stream_all(pieces)
    assert "".join(texts) + tail == b"".join(pieces).decode("utf-8", errors="replace")


@given(st.lists(st.text(max_size=5).map(str.encode), max_size=12))
def test_no_released_text_ends_inside_a_character(pieces):
    # Valid UTF-8 cut anywhere: every release is whole characters, so never U+FFFD.
    joined = b"".join(pieces)
    cuts = sorted({len(joined) * i // 7 for i in range(8)})
    chunks = [joined[a:b] for a, b in zip(cuts, cuts[1:], strict=False)]
    texts, tail, _ = stream_all(chunks)
    assert all("\ufffd" not in t for t in texts) and "".join(texts) + tail == joined.decode()


def test_a_stop_string_is_found_across_token_boundaries():
    texts, tail, stream = stream_all([b"Hel", b"lo wo", b"rld"], stop=["o w"])
    assert texts == ["Hel", "l", ""] and tail == "" and stream.stopped


def test_a_stop_prefix_is_held_then_released_when_ruled_out():
    stream = TextStream(["low"])
    assert stream.push(b"al") == "a"  # "l" could begin "low"
    assert stream.push(b"la") == "lla"  # "la" does not begin "low": all goes
    assert stream.flush() == ""


def test_a_held_prefix_is_released_at_the_end():
    texts, tail, stream = stream_all([b"say lo"], stop=["low"])
    assert texts == ["say "] and tail == "lo" and not stream.stopped


def test_the_earliest_of_several_stop_strings_wins():
    texts, _, _ = stream_all([b"abcdef"], stop=["de", "bc"])
    assert texts == ["a"]


def test_a_stop_string_split_inside_a_character_is_found():
    texts, _, stream = stream_all([b"x" + EMOJI[:2], EMOJI[2:] + b"!"], stop=["😀!"])
    assert texts == ["x", ""] and stream.stopped


@given(st.text(alphabet="ab😀", max_size=20), st.text(alphabet="ab😀", min_size=1, max_size=3),
       st.lists(st.integers(0, 80), max_size=6))  # fmt: skip
def test_stopping_equals_cutting_the_whole_text(text, stop, cuts):
    data = text.encode()
    points = sorted({0, len(data), *(c for c in cuts if c <= len(data))})
    texts, tail, _ = stream_all(
        [data[a:b] for a, b in zip(points, points[1:], strict=False)], [stop]
    )
    expected = text[: text.find(stop)] if stop in text else text
    assert "".join(texts) + tail == expected


def test_token_texts_give_the_last_token_the_flush():
    assert token_texts([b"\xc3", b"\xa9!"]) == ["", "é!"]
    assert token_texts([b"a", EMOJI[:1]]) == ["a", "\ufffd"]
    assert token_texts([]) == []
