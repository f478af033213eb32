"""lmcore.data: encoded corpora and their train/val split."""

import json

import numpy as np
import pytest

from lmcore import data
from lmcore.data import encode_corpus, load_encoded
from lmcore.errors import LmcoreError
from lmcore.tokenizer import Tokenizer, byte_to_char, hf_template


def test_it_encodes_a_corpus_with_byte_counts_that_add_up(small_tokenizer, tmp_path, monkeypatch):
    monkeypatch.setattr(data, "CHUNK_CHARS", 300)  # many chunks, several batches
    monkeypatch.setattr(data, "ENCODE_BATCH_CHUNKS", 3)
    a, b = tmp_path / "a.txt", tmp_path / "b.txt"
    a.write_text("the cat ate the cheese\n" * 100, encoding="utf-8")
    b.write_text("perché città 😀 così\r\n" * 100, encoding="utf-8", newline="")
    total = a.read_bytes() + b.read_bytes()
    events = []
    corpus = encode_corpus(small_tokenizer, [a, b], tmp_path / "enc", 0.25, events.append)
    assert corpus.train_bytes + corpus.val_bytes == len(total)
    assert corpus.val_bytes == pytest.approx(0.25 * len(total), abs=4)
    train, val = corpus.split("train"), corpus.split("val")
    assert corpus.dtype == "uint16" and train.dtype == np.dtype("<u2")
    assert (len(train), len(val)) == (corpus.train_tokens, corpus.val_tokens)
    assert small_tokenizer.decode(train).encode() == total[: corpus.train_bytes]
    assert small_tokenizer.decode(val).encode() == total[corpus.train_bytes :]
    whole = small_tokenizer.encode(total[: corpus.train_bytes].decode())
    assert train.tolist() == whole  # chunking changed nothing
    assert events[-1] == {"event": "progress", "bytes_read": len(total), "bytes_total": len(total)}
    assert load_encoded(tmp_path / "enc") == corpus


def test_it_cuts_validation_on_a_character_boundary(small_tokenizer, tmp_path):
    path = tmp_path / "emoji.txt"
    path.write_text("😀" * 10, encoding="utf-8")  # 40 bytes, 4 per character
    corpus = encode_corpus(small_tokenizer, [path], tmp_path / "enc", val_fraction=0.13)
    assert (corpus.train_bytes, corpus.val_bytes) == (36, 4)  # 34.8 -> 34 -> next boundary 36
    assert small_tokenizer.decode(corpus.split("val")) == "😀"


def test_it_allows_an_empty_validation_split(small_tokenizer, corpus_file, tmp_path):
    corpus = encode_corpus(small_tokenizer, [corpus_file], tmp_path / "enc", val_fraction=0.0)
    assert corpus.val_tokens == 0 and len(corpus.split("val")) == 0
    with pytest.raises(LmcoreError, match="unknown split"):
        corpus.split("test")


def test_it_stores_ids_as_uint32_when_the_vocabulary_needs_it(tmp_path):
    assert (data.dtype_for(65536), data.dtype_for(65537)) == ("uint16", "uint32")
    # Byte tokens placed above 65,536 so every id needs 32 bits (no merges: one id per byte).
    vocab = {f"filler{i}": i for i in range(70_000)}
    vocab |= {char: 70_000 + b for b, char in byte_to_char().items()}
    spec = json.loads(hf_template().to_str())
    spec["model"]["vocab"] = vocab
    big = Tokenizer.from_str(json.dumps(spec))
    (tmp_path / "in.txt").write_text("ciao 😀\n" * 50, encoding="utf-8")
    corpus = encode_corpus(big, [tmp_path / "in.txt"], tmp_path / "enc")
    assert corpus.dtype == "uint32" and corpus.split("train").dtype == np.dtype("<u4")
    assert corpus.split("train").min() >= 70_000
    assert big.decode(corpus.split("train")) + big.decode(corpus.split("val")) == "ciao 😀\n" * 50


def test_it_rejects_bad_requests_and_damaged_corpora(small_tokenizer, corpus_file, tmp_path):
    with pytest.raises(LmcoreError, match="val fraction"):
        encode_corpus(small_tokenizer, [corpus_file], tmp_path / "x", val_fraction=1.0)
    (tmp_path / "empty.txt").write_text("")
    with pytest.raises(LmcoreError, match="empty corpus"):
        encode_corpus(small_tokenizer, [tmp_path / "empty.txt"], tmp_path / "x")
    with pytest.raises(LmcoreError, match="not an encoded corpus"):
        load_encoded(tmp_path / "nowhere")
    corpus = encode_corpus(small_tokenizer, [corpus_file], tmp_path / "enc")
    with (tmp_path / "enc" / "val.bin").open("ab") as f:
        f.write(b"\x00")
    with pytest.raises(LmcoreError, match="not the size meta.json records"):
        load_encoded(corpus.directory)
