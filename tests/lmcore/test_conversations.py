"""Conversation JSONL files: streamed, each bad line refused with its number and reason."""

import json

import pytest

from lmcore.conversations import Limits, iter_conversations, scan
from lmcore.errors import LmcoreError

GOOD = {"messages": [{"role": "system", "content": "s"}, {"role": "user", "content": "u"},
                     {"role": "assistant", "content": "a"}]}  # fmt: skip


def write(tmp_path, lines, name="c.jsonl"):
    path = tmp_path / name
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return path


def test_it_counts_conversations_turns_and_characters(tmp_path):
    path = write(tmp_path, [json.dumps(GOOD), "", json.dumps(GOOD) + "  "])
    stats = scan(path)
    assert stats.to_dict() == {"conversations": 2, "messages": 6, "user_messages": 2,
                               "assistant_messages": 2, "system_messages": 2, "chars": 6}  # fmt: skip
    assert [n for n, _ in iter_conversations(path)] == [1, 3]


def msgs(*pairs):
    return json.dumps({"messages": [{"role": r, "content": c} for r, c in pairs]})


@pytest.mark.parametrize(
    ("bad_line", "reason"),
    [
        ('{"messages": [', r"line 2: invalid JSON \(Expecting value at column 15\)"),
        ('{"messages": [{"content": "x"}]}', "line 2: message 1 has no role"),
        (msgs(("robot", "x")), "line 2: message 1 has an unknown role 'robot'"),
        ('{"messages": [{"role": "user", "content": 3}]}',
         "line 2: message 1: content must be a string, not int"),
        (msgs(("user", "  ")), "line 2: message 1: content is empty"),
        (msgs(("user", "hi")), "line 2: no assistant message"),
        (msgs(("user", "a"), ("assistant", "b"), ("system", "c")),
         "line 2: roles out of order: message 3 is a system message"),
        (msgs(("assistant", "a"), ("user", "b"), ("assistant", "c")),
         "line 2: roles out of order: message 1 is from the assistant"),
        (msgs(("user", "a" * 50), ("assistant", "b")), "line 2: conversation of 51 characters"),
        ('[{"role": "user"}]', 'line 2: expected an object with a "messages" list'),
        ('{"text": "x"}', 'line 2: expected an object with a "messages" list'),
        ('{"messages": []}', 'line 2: "messages" is empty'),
    ],
)  # fmt: skip
def test_it_refuses_a_bad_line_with_its_number_and_reason(tmp_path, bad_line, reason):
    path = write(tmp_path, [json.dumps(GOOD), bad_line, json.dumps(GOOD)])
    with pytest.raises(LmcoreError, match=reason):
        scan(path, Limits(max_chars=40))


def test_a_file_that_is_not_jsonl_at_all(tmp_path):
    path = tmp_path / "story.txt"
    path.write_text("Once upon a time\nthere was a cat.\n", encoding="utf-8")
    with pytest.raises(LmcoreError, match="not a JSONL file: line 1 is not JSON"):
        scan(path)
    pretty = write(tmp_path, [json.dumps([GOOD], indent=2)])
    with pytest.raises(LmcoreError, match="not a JSONL file"):
        scan(pretty)


def test_invalid_utf8_and_overlong_lines_are_named(tmp_path):
    path = tmp_path / "bin.jsonl"
    path.write_bytes(json.dumps(GOOD).encode() + b"\n\xff\xfe{}\n")
    with pytest.raises(LmcoreError, match="line 2: not valid UTF-8"):
        scan(path)
    long = write(tmp_path, [json.dumps(GOOD), msgs(("user", "x" * 10_000), ("assistant", "y"))])
    with pytest.raises(LmcoreError, match="line 2: longer than"):
        scan(long, Limits(max_chars=100, max_messages=4))


def test_an_empty_file_holds_no_conversations(tmp_path):
    with pytest.raises(LmcoreError, match="no conversations"):
        scan(write(tmp_path, ["", "  "]))


def test_a_bom_on_the_first_line_is_accepted(tmp_path):
    path = tmp_path / "bom.jsonl"
    path.write_bytes(b"\xef\xbb\xbf" + json.dumps(GOOD).encode() + b"\n")
    assert scan(path).conversations == 1


@pytest.mark.parametrize("encoding", ["utf-16-le", "utf-16-be", "utf-32-le", "utf-32-be"])
def test_a_file_with_a_utf16_or_utf32_mark_reads_as_its_utf8_twin(tmp_path, encoding):
    import codecs

    marks = {"utf-16-le": codecs.BOM_UTF16_LE, "utf-16-be": codecs.BOM_UTF16_BE,
             "utf-32-le": codecs.BOM_UTF32_LE, "utf-32-be": codecs.BOM_UTF32_BE}  # fmt: skip
    lines = [json.dumps(GOOD), "", msgs(("user", "città 日本 🙂"), ("assistant", "così"))]
    utf8 = write(tmp_path, lines)
    wide = tmp_path / "wide.jsonl"
    wide.write_bytes(marks[encoding] + utf8.read_text(encoding="utf-8").encode(encoding))
    counted = []
    assert list(iter_conversations(wide, on_bytes=counted.append)) == list(iter_conversations(utf8))
    assert sum(counted) == wide.stat().st_size  # progress ends at the file's size
    long = tmp_path / "long.jsonl"
    long.write_bytes(marks[encoding] + (json.dumps(GOOD) + "\n" + "x" * 5000).encode(encoding))
    with pytest.raises(LmcoreError, match="line 2: longer than"):
        scan(long, Limits(max_chars=100, max_messages=4))
