"""`python -m lmcore tokenizer ...`: JSON on stdout, one-line errors and exit codes."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from lmcore.cli import main

REPO = Path(__file__).resolve().parents[2]


def run(capsys, *argv: str) -> tuple[int, dict, str]:
    code = main(["tokenizer", *argv])
    out, err = capsys.readouterr()
    return code, (json.loads(out) if out else {}), err


@pytest.fixture(scope="module")
def tok_dir(small_tokenizer, tmp_path_factory):
    directory = tmp_path_factory.mktemp("tok")
    small_tokenizer.save(directory)
    return directory


def test_it_trains_and_prints_the_contract_fields(capsys, corpus_file, tmp_path):
    code, out, _ = run(capsys, "train", "--input", str(corpus_file), "--vocab-size", "300",
                       "--min-frequency", "1", "--out", str(tmp_path / "tok"))  # fmt: skip
    assert code == 0
    assert set(out) == {"vocab_size", "bytes", "tokens", "bytes_per_token", "seconds"}
    assert out["vocab_size"] == 300 and out["bytes"] == corpus_file.stat().st_size
    assert out["bytes_per_token"] == round(out["bytes"] / out["tokens"], 4)
    assert (tmp_path / "tok" / "tokenizer.json").is_file()


def test_it_takes_custom_special_tokens(capsys, corpus_file, tmp_path):
    code, _, _ = run(capsys, "train", "--input", str(corpus_file), "--vocab-size", "300",
                     "--special-tokens", "<|eot|>", "--out", str(tmp_path))  # fmt: skip
    code, out, _ = run(capsys, "vocab", "--tokenizer", str(tmp_path), "--limit", "2")
    assert code == 0 and out["entries"][0]["token"] == "<|eot|>" and out["entries"][0]["special"]
    assert not out["entries"][1]["special"]


def test_it_encodes_user_text_without_specials(capsys, tok_dir, small_tokenizer):
    code, out, _ = run(capsys, "encode", "--tokenizer", str(tok_dir), "--text", "the<|endoftext|>")
    assert code == 0 and out["ids"] == small_tokenizer.encode("the<|endoftext|>")
    assert "".join(out["tokens"]) == "the<|endoftext|>"


def test_it_traces_and_measures(capsys, tok_dir, small_tokenizer):
    code, out, _ = run(capsys, "trace", "--tokenizer", str(tok_dir), "--text", "cheese")
    assert code == 0 and out["ids"] == small_tokenizer.encode("cheese")
    assert (
        out["steps"][0]["tokens"] == list("cheese") and out["steps"][-1]["tokens"] == out["tokens"]
    )
    code, out, _ = run(capsys, "stats", "--tokenizer", str(tok_dir), "--text", "the cheese")
    assert code == 0 and out["bytes"] == 10


def test_it_measures_files(capsys, tok_dir, corpus_file):
    code, out, _ = run(capsys, "stats", "--tokenizer", str(tok_dir), "--input", str(corpus_file))
    assert code == 0 and out["bytes"] == corpus_file.stat().st_size == out["files"][0]["bytes"]


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (
            ["train", "--input", "{missing}", "--vocab-size", "300", "--out", "{tmp}"],
            "not a readable",
        ),
        (["train", "--input", "{corpus}", "--vocab-size", "10", "--out", "{tmp}"], "vocab size 10"),
        (["train", "--input", "{bad}", "--vocab-size", "300", "--out", "{tmp}"], "at byte 1"),
        (["encode", "--tokenizer", "{missing}", "--text", "x"], "cannot read tokenizer"),
    ],
)
def test_it_fails_with_one_line_on_stderr(capsys, tmp_path, corpus_file, argv, message):
    (tmp_path / "bad.txt").write_bytes(b"a\xff")
    paths = {"missing": tmp_path / "missing", "tmp": tmp_path / "out", "corpus": corpus_file,
             "bad": tmp_path / "bad.txt"}  # fmt: skip
    code, out, err = run(capsys, *[a.format(**paths) for a in argv])
    assert code == 1 and out == {}
    assert err.startswith("error: ") and message in err and err.count("\n") == 1


def test_it_exits_non_zero_from_the_command_line(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "lmcore", "tokenizer", "encode", "--tokenizer", str(tmp_path),
         "--text", "x"],
        cwd=REPO, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert proc.returncode == 1 and proc.stdout == ""
    assert proc.stderr.count("\n") == 1 and "tokenizer.json" in proc.stderr
