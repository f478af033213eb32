"""lmcore.tokenizer: training, round trips, special tokens, persistence and clear errors."""

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lmcore.errors import LmcoreError
from lmcore.tokenizer import SPECIAL_TOKENS, Tokenizer, TokenizerConfig, train_tokenizer

# Pieces that tend to break byte-level tokenizers, mixed into arbitrary Unicode.
TRICKY = ["\r\n", "\r", "\n\n", "\t", "\x00", "\x1b", "\u200b", "\ufeff", "e\u0301", "perché",
          "città", "😀", "👩‍👩‍👧", "🇮🇹", "日本語", "中文", "  ", "'s", "<|endoftext|>", "<|user|>"]  # fmt: skip
unicode_text = st.lists(st.one_of(st.text(max_size=8), st.sampled_from(TRICKY)), max_size=25).map(
    "".join
)


@settings(max_examples=150, deadline=None)
@given(text=unicode_text)
def test_it_round_trips_arbitrary_unicode(small_tokenizer, text):
    assert small_tokenizer.decode(small_tokenizer.encode(text)) == text


@settings(max_examples=50, deadline=None)
@given(text=unicode_text)
def test_it_never_turns_user_text_into_special_tokens(small_tokenizer, text):
    ids = small_tokenizer.encode(text + "<|endoftext|><|assistant|>")
    assert not set(ids) & set(small_tokenizer.special_tokens.values())


def test_it_keeps_a_literal_special_token_as_plain_bytes(small_tokenizer):
    ids = small_tokenizer.encode("a<|endoftext|>b")
    assert small_tokenizer.eot_id not in ids
    assert len(ids) > 3
    assert b"".join(small_tokenizer.token_bytes(i) for i in ids) == b"a<|endoftext|>b"


def test_it_keeps_special_tokens_atomic_when_the_application_inserts_them(small_tokenizer):
    user = small_tokenizer.special_id("<|user|>")
    ids = [user, *small_tokenizer.encode("ciao"), small_tokenizer.eot_id]
    assert small_tokenizer.decode(ids) == "<|user|>ciao<|endoftext|>"
    assert small_tokenizer.token_bytes(user) == b"<|user|>"
    assert small_tokenizer.bytes_table()[user] == b"<|user|>"


def test_it_has_the_default_specials_and_every_byte(small_tokenizer):
    assert sorted(small_tokenizer.special_tokens) == sorted(SPECIAL_TOKENS)
    assert small_tokenizer.eot_id == small_tokenizer.special_id("<|endoftext|>")
    assert small_tokenizer.vocab_size == 400 == len(small_tokenizer.bytes_table())
    singles = {t for t in small_tokenizer.bytes_table() if len(t) == 1}
    assert singles == {bytes([b]) for b in range(256)}


def test_it_refuses_an_unknown_special_token(small_tokenizer):
    with pytest.raises(LmcoreError, match="no special token"):
        small_tokenizer.special_id("<|tool|>")


def test_it_decodes_a_cut_character_to_a_replacement_char(small_tokenizer):
    ids = small_tokenizer.encode("é")  # 2 bytes: may be one token or two
    first = small_tokenizer.encode("\xff")[0]
    assert small_tokenizer.token_bytes(first)[:1] == b"\xc3"
    assert small_tokenizer.decode([first]) == "\ufffd"
    assert small_tokenizer.decode(ids) == "é"


def test_it_rejects_ids_outside_the_vocabulary(small_tokenizer):
    for bad in (-1, small_tokenizer.vocab_size):
        with pytest.raises(LmcoreError, match="outside the vocabulary"):
            small_tokenizer.decode([1, bad])
        with pytest.raises(LmcoreError, match="outside the vocabulary"):
            small_tokenizer.token_bytes(bad)


def test_it_encodes_batches_like_single_texts(small_tokenizer):
    texts = ["the cat", "", "perché 😀\r\n", "<|endoftext|>"]
    assert small_tokenizer.encode_batch(texts) == [small_tokenizer.encode(t) for t in texts]


def test_it_is_deterministic(corpus_file, small_tokenizer):
    again = train_tokenizer([corpus_file], TokenizerConfig(vocab_size=400, min_frequency=2))
    assert again.to_str() == small_tokenizer.to_str()


def test_it_saves_and_loads_equal(small_tokenizer, tmp_path):
    path = small_tokenizer.save(tmp_path / "tok")
    assert path == tmp_path / "tok" / "tokenizer.json"
    for loaded in (Tokenizer.load(tmp_path / "tok"), Tokenizer.load(path)):
        assert loaded == small_tokenizer
        assert loaded.bytes_table() == small_tokenizer.bytes_table()
        assert loaded.special_tokens == small_tokenizer.special_tokens
    assert Tokenizer.from_str(small_tokenizer.to_str()).encode("the cat") == small_tokenizer.encode(
        "the cat"
    )


def test_it_reports_progress_by_bytes(corpus_file):
    events = []
    train_tokenizer([corpus_file], TokenizerConfig(vocab_size=300), on_event=events.append)
    progress = [e for e in events if e["event"] == "progress"]
    size = corpus_file.stat().st_size
    assert progress[-1] == {"event": "progress", "bytes_read": size, "bytes_total": size}
    assert events[-1]["event"] == "trained" and events[-1]["vocab_size"] == 300


def test_it_trains_without_special_tokens(corpus_file):
    tok = train_tokenizer([corpus_file], TokenizerConfig(vocab_size=300, special_tokens=[]))
    assert tok.eot_id is None and tok.special_tokens == {}


@pytest.mark.parametrize(
    ("config", "message"),
    [
        (TokenizerConfig(vocab_size=260), "between 261"),
        (TokenizerConfig(vocab_size=1_000_001), "out of range"),
        (TokenizerConfig(vocab_size=300, min_frequency=-1), "min frequency"),
        (TokenizerConfig(vocab_size=300, special_tokens=["<|a|>", "<|a|>"]), "repeat"),
        (TokenizerConfig(vocab_size=300, special_tokens=["hello"]), "spelt by ordinary text"),
    ],
)
def test_it_rejects_bad_configs(corpus_file, config, message):
    with pytest.raises(LmcoreError, match=message):
        train_tokenizer([corpus_file], config)


def test_it_rejects_empty_missing_and_non_utf8_input(tmp_path):
    config = TokenizerConfig(vocab_size=300)
    (tmp_path / "empty.txt").write_bytes(b"")
    (tmp_path / "latin1.txt").write_bytes(b"ok\n" * 1000 + b"caff\xe8\n")
    with pytest.raises(LmcoreError, match="empty corpus"):
        train_tokenizer([tmp_path / "empty.txt"], config)
    with pytest.raises(LmcoreError, match="not a readable file"):
        train_tokenizer([tmp_path / "missing.txt"], config)
    with pytest.raises(LmcoreError, match=r"latin1.txt: not valid UTF-8 at byte 3004"):
        train_tokenizer([tmp_path / "latin1.txt"], config)


def test_it_refuses_a_tokenizer_whose_merges_spell_a_special(small_tokenizer):
    spec = json.loads(small_tokenizer.to_str())
    spec["added_tokens"].append({**spec["added_tokens"][0], "id": 1, "content": "the"})
    with pytest.raises(LmcoreError, match="merges can spell special token 'the'"):
        Tokenizer.from_str(json.dumps(spec))


def test_it_reports_unloadable_files(tmp_path):
    (tmp_path / "tokenizer.json").write_text("{not json")
    with pytest.raises(LmcoreError, match="invalid tokenizer.json"):
        Tokenizer.load(tmp_path)
    with pytest.raises(LmcoreError, match="cannot read tokenizer"):
        Tokenizer.load(tmp_path / "nowhere")


def test_it_refuses_a_tokenizer_that_is_not_byte_level_bpe(small_tokenizer):
    spec = json.loads(small_tokenizer.to_str())
    spec["pre_tokenizer"] = None
    with pytest.raises(LmcoreError, match="not hold a byte-level BPE"):
        Tokenizer.from_str(json.dumps(spec))


def test_its_progress_ends_at_its_total_on_a_jsonl_corpus_with_a_held_out_tail(tmp_path):
    path = tmp_path / "docs.jsonl"
    path.write_text("".join(json.dumps({"text": f"doc {i} the cat"}) + "\n" for i in range(20)))
    events = []
    train_tokenizer([path], TokenizerConfig(vocab_size=300), on_event=events.append,
                    val_fraction=0.1)  # fmt: skip
    last = [e for e in events if e["event"] == "progress"][-1]
    assert last["bytes_read"] == last["bytes_total"] < path.stat().st_size  # the tail held out
