"""lmcore.data: encoded corpora and their train/val split."""

import json

import numpy as np
import pytest

from lmcore import data
from lmcore.data import encode_corpus, load_encoded
from lmcore.documents import split_files
from lmcore.errors import LmcoreError
from lmcore.tokenizer import Tokenizer, byte_to_char, hf_template


def test_each_corpus_holds_out_its_own_tail_and_documents_start_with_bos(
    small_tokenizer, tmp_path, monkeypatch
):
    monkeypatch.setattr(data, "CHUNK_CHARS", 300)  # many chunks, several batches
    monkeypatch.setattr(data, "ENCODE_BATCH_CHUNKS", 3)
    a, b = tmp_path / "a.txt", tmp_path / "b.txt"
    a.write_text("the cat ate the cheese\n" * 100, encoding="utf-8")
    b.write_text("perché città 😀 così\r\n" * 10, encoding="utf-8", newline="")
    texts = [a.read_bytes(), b.read_bytes()]
    events = []
    corpus = encode_corpus(small_tokenizer, [a, b], tmp_path / "enc", 0.25, events.append)
    bos = small_tokenizer.special_id("<|endoftext|>")
    cuts = [train_part.hi for train_part in split_files([a, b], 0.25)[0]]
    assert cuts[0] == int(len(texts[0]) * 0.75) and 0 <= cuts[1] - int(len(texts[1]) * 0.75) < 4
    train, val = corpus.split("train"), corpus.split("val")
    assert (len(train), len(val)) == (corpus.train_tokens, corpus.val_tokens)
    expected_train = [bos, *small_tokenizer.encode(texts[0][: cuts[0]].decode())]
    expected_train += [bos, *small_tokenizer.encode(texts[1][: cuts[1]].decode())]
    assert train.tolist() == expected_train  # chunking changed nothing
    assert [p["name"] for p in corpus.val_parts] == ["a.txt", "b.txt"]
    for (name, segment), text, cut in zip(corpus.val_segments(), texts, cuts, strict=True):
        assert segment[0] == bos and bos not in segment[1:].tolist()
        assert small_tokenizer.decode(segment[1:]).encode() == text[cut:], name
    assert corpus.val_parts[1]["bytes"] == len(texts[1]) - cuts[1]
    assert corpus.train_bytes + corpus.val_bytes == sum(map(len, texts))
    assert corpus.bos_token == "<|endoftext|>"
    total = sum(map(len, texts))
    assert events[-1] == {"event": "progress", "bytes_read": total, "bytes_total": total}
    assert load_encoded(tmp_path / "enc") == corpus


def test_a_jsonl_text_corpus_is_one_document_per_line(small_tokenizer, tmp_path):
    path = tmp_path / "docs.jsonl"
    docs = [f"doc {i} ciao" for i in range(10)]
    path.write_text("".join(json.dumps({"text": d}) + "\n" for d in docs) + "\n")
    corpus = encode_corpus(small_tokenizer, [path], tmp_path / "enc", val_fraction=0.2)
    bos = small_tokenizer.special_id("<|endoftext|>")
    expected = [t for d in docs[:8] for t in (bos, *small_tokenizer.encode(d))]
    assert corpus.split("train").tolist() == expected
    assert small_tokenizer.decode(corpus.split("val")) == "".join(
        "<|endoftext|>" + d for d in docs[8:]
    )
    assert corpus.val_bytes == sum(len(d.encode()) for d in docs[8:])
    events = []
    encode_corpus(small_tokenizer, [path], tmp_path / "enc2", val_fraction=0.2,
                  on_event=events.append)  # fmt: skip
    # The train and validation passes read the file once between them, as progress says.
    size = path.stat().st_size
    assert size - 1 <= events[-1]["bytes_read"] <= events[-1]["bytes_total"] == size
    (tmp_path / "bad.jsonl").write_text('{"text": "a"}\n{"txt": "b"}\n')
    with pytest.raises(LmcoreError, match=r"bad.jsonl: line 2: expected \{\"text\""):
        encode_corpus(small_tokenizer, [tmp_path / "bad.jsonl"], tmp_path / "x")


def test_a_format_1_corpus_still_loads_as_one_validation_segment(small_tokenizer, tmp_path):
    path = tmp_path / "a.txt"
    path.write_text("ciao ciao\n" * 20)
    corpus = encode_corpus(small_tokenizer, [path], tmp_path / "enc")
    meta = json.loads((tmp_path / "enc" / "meta.json").read_text())
    meta["format"] = 1
    del meta["bos_token"], meta["val_parts"]
    (tmp_path / "enc" / "meta.json").write_text(json.dumps(meta))
    old = load_encoded(tmp_path / "enc")
    assert old.bos_token is None and old.val_parts == []
    assert [(n, len(v)) for n, v in old.val_segments()] == [("all", corpus.val_tokens)]


def test_it_cuts_validation_on_a_character_boundary(small_tokenizer, tmp_path):
    path = tmp_path / "emoji.txt"
    path.write_text("😀" * 10, encoding="utf-8")  # 40 bytes, 4 per character
    corpus = encode_corpus(small_tokenizer, [path], tmp_path / "enc", val_fraction=0.13)
    assert (corpus.train_bytes, corpus.val_bytes) == (36, 4)  # 34.8 -> 34 -> next boundary 36
    assert small_tokenizer.decode(corpus.split("val")) == "<|endoftext|>😀"


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
    spec["added_tokens"] = [{"id": 0, "content": "<|endoftext|>", "single_word": False,
                             "lstrip": False, "rstrip": False, "normalized": False,
                             "special": True}]  # fmt: skip
    big = Tokenizer.from_str(json.dumps(spec))
    (tmp_path / "in.txt").write_text("ciao 😀\n" * 50, encoding="utf-8")
    corpus = encode_corpus(big, [tmp_path / "in.txt"], tmp_path / "enc")
    assert corpus.dtype == "uint32" and corpus.split("train").dtype == np.dtype("<u4")
    assert corpus.split("train")[1:].min() >= 70_000
    text = big.decode(corpus.split("train")) + big.decode(corpus.split("val"))
    assert text.replace("<|endoftext|>", "") == "ciao 😀\n" * 50


def test_it_rejects_bad_requests_and_damaged_corpora(small_tokenizer, corpus_file, tmp_path):
    with pytest.raises(LmcoreError, match="val fraction"):
        encode_corpus(small_tokenizer, [corpus_file], tmp_path / "x", val_fraction=1.0)
    (tmp_path / "empty.txt").write_text("")
    with pytest.raises(LmcoreError, match="empty corpus"):
        encode_corpus(small_tokenizer, [tmp_path / "empty.txt"], tmp_path / "x")
    no_bos = Tokenizer.from_str(hf_template().to_str())
    with pytest.raises(LmcoreError, match="no <\\|endoftext\\|> token, which starts every"):
        encode_corpus(no_bos, [corpus_file], tmp_path / "x")
    with pytest.raises(LmcoreError, match="not an encoded corpus"):
        load_encoded(tmp_path / "nowhere")
    corpus = encode_corpus(small_tokenizer, [corpus_file], tmp_path / "enc")
    with (tmp_path / "enc" / "val.bin").open("ab") as f:
        f.write(b"\x00")
    with pytest.raises(LmcoreError, match="not the size meta.json records"):
        load_encoded(corpus.directory)
