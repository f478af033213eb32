"""One split for every figure (lmcore/preparation.py): the tokenizer never learns from the
validation tail that runs, `lmcore eval --val-fraction` and the benchmarks score."""

import ast
from pathlib import Path

import pytest

from lmcore.cli import main
from lmcore.documents import split_file
from lmcore.errors import LmcoreError
from lmcore.preparation import prepare_text
from lmcore.tokenizer import Tokenizer, TokenizerConfig, train_tokenizer

from .conftest import make_corpus_text

REPO = Path(__file__).resolve().parents[2]
MARKER = "Zqxjvorbleflamp"  # a word found only in the validation tail


@pytest.fixture(scope="module")
def marked_file(tmp_path_factory) -> Path:
    """Mixed text, then a tail (the last 10%) where MARKER repeats: frequent enough that any
    tokenizer reading the tail learns it as one token."""
    head = make_corpus_text(n_lines=400, seed=3)
    tail = f"{MARKER} " * 60 + "\n"
    head_bytes, tail_bytes = len(head.encode()), len(tail.encode())
    path = tmp_path_factory.mktemp("marked") / "corpus.txt"
    filler = "the cat ate the cheese\n" * ((9 * tail_bytes - head_bytes) // 23 + 1)
    path.write_text(head + filler + tail, encoding="utf-8", newline="")
    _, val = split_file(path, 0.1)
    assert path.read_bytes()[val.lo : val.hi].count(MARKER.encode()) >= 50  # tail only
    assert MARKER.encode() not in path.read_bytes()[: val.lo]
    return path


def learnt_marker(tokenizer: Tokenizer) -> bool:
    """Whether any token spells the marker or a long piece of it."""
    vocab = tokenizer.bytes_table()
    return any(len(piece) >= 5 and piece.strip() in MARKER.encode() for piece in vocab)


def test_the_control_a_tokenizer_reading_the_tail_learns_the_marker(marked_file):
    # Without this, the tests below could pass with a marker no tokenizer would ever learn.
    leaked = train_tokenizer([marked_file], TokenizerConfig(vocab_size=600))
    assert learnt_marker(leaked)


def test_prepare_text_keeps_the_marker_out_of_the_tokenizer_and_in_validation(
    marked_file, tmp_path
):
    tokenizer, corpus = prepare_text([marked_file], 600, tmp_path / "data", val_fraction=0.1)
    assert not learnt_marker(tokenizer)
    val_text = tokenizer.decode([int(i) for i in corpus.split("val")])
    assert val_text.count(MARKER) == 60  # the tail is what validation scores
    assert MARKER not in tokenizer.decode([int(i) for i in corpus.split("train")])


def test_the_cli_tokenizer_holds_the_same_tail_out(capsys, marked_file, tmp_path):
    code = main(["tokenizer", "train", "--input", str(marked_file), "--vocab-size", "600",
                 "--out", str(tmp_path / "tok")])  # fmt: skip
    assert code == 0, capsys.readouterr().err
    assert not learnt_marker(Tokenizer.load(tmp_path / "tok"))
    tokenizer, corpus = prepare_text([marked_file], 600, tmp_path / "data")
    assert Tokenizer.load(tmp_path / "tok").to_str() == tokenizer.to_str()  # one path
    # ... and `train` encodes the corpus the benchmarks get from prepare_text, byte for byte.
    code = main(["train", "--tokenizer", str(tmp_path / "tok"), "--input", str(marked_file),
                 "--out", str(tmp_path / "run"), "--prepare-only"])  # fmt: skip
    assert code == 0, capsys.readouterr().err
    for split in ("train.bin", "val.bin"):
        assert (tmp_path / "run" / "data" / split).read_bytes() == (
            corpus.directory / split
        ).read_bytes()


def test_it_refuses_a_split_with_no_validation(marked_file, tmp_path):
    with pytest.raises(LmcoreError, match="val fraction"):
        prepare_text([marked_file], 600, tmp_path / "data", val_fraction=0.0)


def _imports_train_tokenizer(path: Path) -> bool:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and any(
            a.name == "train_tokenizer" for a in node.names
        ):
            return True
        if isinstance(node, ast.Attribute) and node.attr == "train_tokenizer":
            return True
    return False


def test_nothing_but_the_preparation_module_trains_a_tokenizer_on_corpora():
    """The benchmarks, the workers and the CLI go through lmcore/preparation.py, which always
    holds the tail out: no figure comes from a tokenizer that saw validation text."""
    allowed = {REPO / "lmcore" / "tokenizer.py", REPO / "lmcore" / "preparation.py"}
    files = [p for d in ("bench", "lmcore", "workers", "webapp") for p in (REPO / d).rglob("*.py")]
    offenders = [str(p.relative_to(REPO)) for p in files
                 if p not in allowed and _imports_train_tokenizer(p)]  # fmt: skip
    assert offenders == []
