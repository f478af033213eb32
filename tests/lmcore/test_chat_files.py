"""Conversation files on the command line: `lmcore chat --messages F.jsonl` answers many
conversations in one process, and `lmcore train --chat-data` reads UTF-16 files with a byte
order mark as the web's import does (one reader, lmcore/conversations.py)."""

import codecs
import json
import subprocess
import sys

import numpy as np
import pytest

from lmcore.chatdata import load_chat_data
from lmcore.cli import main

from .test_finetune import conversation, train_base, write_jsonl

GREEDY = ["--temperature", "0", "--max-new-tokens", "4", "--device", "cpu"]


@pytest.fixture(scope="module")
def base(tmp_path_factory, small_tokenizer, verse_file):
    return train_base(tmp_path_factory.mktemp("chatfiles"), small_tokenizer, verse_file) / "base"


def ask(capsys, base, path) -> tuple[int, list[dict], str]:
    capsys.readouterr()
    code = main(["chat", "--checkpoint", str(base), "--messages", str(path), *GREEDY])
    out = capsys.readouterr()
    return code, [json.loads(line) for line in out.out.splitlines()], out.err


def user(text: str) -> list[dict]:
    return [{"role": "user", "content": text}]


def test_a_jsonl_file_is_answered_line_by_line_as_single_conversations_are(base, capsys, tmp_path):
    questions = ["say red", "say blue", "say green"]
    path = tmp_path / "many.jsonl"
    path.write_text(json.dumps({"messages": user(questions[0])}) + "\n\n"
                    + json.dumps(user(questions[1])) + "\n"  # the bare list of messages
                    + json.dumps({"messages": user(questions[2])}) + "\n", encoding="utf-8")  # fmt: skip
    code, answers, _ = ask(capsys, base, path)
    assert code == 0
    assert [a["line"] for a in answers] == [1, 3, 4]  # the blank line 2 is skipped
    for question, answer in zip(questions, answers, strict=True):
        single = tmp_path / "one.json"
        single.write_text(json.dumps({"messages": user(question)}))
        code, [alone], _ = ask(capsys, base, single)
        assert code == 0 and "line" not in alone  # the single form is unchanged
        assert {k: v for k, v in answer.items() if k != "line"} == alone


def test_a_conversation_that_cannot_be_answered_gets_an_error_line_and_the_rest_answers(
    base, capsys, tmp_path
):
    path = write_jsonl(tmp_path / "c.jsonl", [{"messages": user("say red")},
                                              {"messages": user("x " * 200)},
                                              {"messages": user("say blue")}])  # fmt: skip
    code, answers, _ = ask(capsys, base, path)
    assert code == 1
    assert [a["line"] for a in answers] == [1, 2, 3]
    assert "the last message alone makes a prompt of" in answers[1]["error"]
    assert "reply" in answers[0] and "reply" in answers[2]


def test_a_bad_line_is_refused_before_anything_is_answered(base, capsys, tmp_path):
    path = tmp_path / "c.jsonl"
    path.write_text(json.dumps(user("say red")) + "\n"
                    + json.dumps([{"role": "user", "content": "a"},
                                  {"role": "assistant", "content": "b"}]) + "\n")  # fmt: skip
    code, answers, err = ask(capsys, base, path)
    assert code == 1 and answers == []
    assert "c.jsonl: line 2: the conversation must end with a user message" in err
    path.write_text(json.dumps(user("say red")) + "\n{oops\n")
    code, answers, err = ask(capsys, base, path)
    assert code == 1 and answers == [] and "line 2: not valid JSON" in err


def test_stdin_jsonl_is_answered_by_one_child_process(base):
    lines = "".join(json.dumps({"messages": user(f"say {c}")}) + "\n" for c in ["red", "blue"])
    child = subprocess.run(
        [sys.executable, "-m", "lmcore", "chat", "--checkpoint", str(base), "--messages", "-",
         *GREEDY], input=lines, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert child.returncode == 0, child.stderr
    answers = [json.loads(line) for line in child.stdout.splitlines()]
    assert [a["line"] for a in answers] == [1, 2] and all("reply" in a for a in answers)


@pytest.mark.parametrize("encoding", ["utf-16-le", "utf-16-be"])
def test_train_chat_data_reads_a_utf16_file_with_its_byte_order_mark(
    base, capsys, tmp_path, encoding
):
    text = "".join(json.dumps(conversation(i)) + "\n" for i in range(12))
    text += json.dumps({"messages": [{"role": "user", "content": "città è così"},
                                     {"role": "assistant", "content": "più"}]}) + "\n"  # fmt: skip
    utf8 = tmp_path / "utf8.jsonl"
    utf8.write_text(text, encoding="utf-8")
    mark = codecs.BOM_UTF16_LE if encoding.endswith("le") else codecs.BOM_UTF16_BE
    wide = tmp_path / "wide.jsonl"
    wide.write_bytes(mark + text.encode(encoding))
    runs = {}
    for name, path in (("utf8", utf8), ("wide", wide)):
        code = main(["train", "--init-from", str(base), "--chat-data", str(path),
                     "--out", str(tmp_path / name), "--prepare-only", "--device", "cpu"])  # fmt: skip
        assert code == 0, capsys.readouterr().err
        runs[name] = load_chat_data(tmp_path / name / "chat-data")
    for split in ("train", "val"):
        for a, b in zip(runs["utf8"].arrays(split), runs["wide"].arrays(split), strict=True):
            assert np.array_equal(a, b)
    assert runs["wide"].conversations == {"train": 12, "val": 1}


def test_undecodable_chat_data_is_refused_with_a_clear_message(base, capsys, tmp_path):
    good = json.dumps(conversation(0)) + "\n"
    broken = tmp_path / "broken.jsonl"  # a UTF-16 mark, then a lone high surrogate on line 2
    broken.write_bytes(codecs.BOM_UTF16_LE + good.encode("utf-16-le") + b"\x00\xd8\n\x00")
    unmarked = tmp_path / "unmarked.jsonl"  # UTF-16 without its byte order mark
    unmarked.write_bytes((good * 3).encode("utf-16-le"))
    for path, message in ((broken, "line 2: not valid UTF-16 LE"),
                          (unmarked, "line 1 holds NUL characters")):  # fmt: skip
        code = main(["train", "--init-from", str(base), "--chat-data", str(path),
                     "--out", str(tmp_path / path.stem), "--prepare-only"])  # fmt: skip
        err = capsys.readouterr().err
        assert code == 1 and message in err and err.count("\n") == 1
