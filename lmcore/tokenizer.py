"""Byte-level BPE tokenizer: a thin, explicit wrapper over HF `tokenizers`.

Text is split GPT-4 style (contractions, letter runs, 1-3 digit groups, punctuation, white
space), each piece becomes bytes shown as 256 printable characters (`ByteLevel`), and merges
learnt from a corpus join frequent adjacent pairs. Every byte is in the vocabulary, so any
UTF-8 text encodes with no unknown token, and `decode(encode(s)) == s` exactly.

Example: `tok = Tokenizer.load("runs/tok"); tok.decode(tok.encode("ciao"))  # -> "ciao"`

Trade-offs:
- User text never becomes special tokens. HF matches added tokens in the input before the
  model runs (`add_special_tokens=False` does not stop that, and `encode_special_tokens`
  skips only *special* added tokens), so `encode` runs through a second HF tokenizer that
  shares the trained model (no copy) but has no added tokens at all: nothing can match, and
  the added-token scan is skipped too. BPE never merges across pre-token pieces, so a special
  that the split cuts in two (`<|endoftext|>` -> `<|`, `endoftext`, `|>`) is unreachable by
  merges; specials that would form one piece are refused at training and checked at load.
  Only the application inserts specials, by id (`special_id`), or through `split_specials`
  on text it trusts (a chat template's own text, lmcore/chat.py), never on user text.
- `decode` joins raw token bytes from our own table rather than HF's decoder, so it agrees
  with `token_bytes` (which bits per byte and the inspector use) by construction.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from tokenizers import Regex, decoders, models, pre_tokenizers, trainers
from tokenizers import Tokenizer as HFTokenizer

from lmcore.corpus_text import Progress, corpus_bytes, iter_chunks
from lmcore.documents import iter_training_text, part_read_bytes, split_files
from lmcore.errors import LmcoreError

SPECIAL_TOKENS: list[str] = ["<|endoftext|>", "<|system|>", "<|user|>", "<|assistant|>", "<|end|>"]
# GPT-4 (cl100k) split pattern; corpus_text.py's chunk cuts rely on its boundaries (see there).
SPLIT_PATTERN = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}"
    r"| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"
)
MAX_VOCAB_SIZE = 1_000_000
TOKENIZER_FILE = "tokenizer.json"
# Chunks handed to the trainer. HF buffers 256 of them ahead and counts words per chunk, so
# small chunks keep peak memory at a bare `Tokenizer.train(files)`'s level, at equal speed
# (bench/tokenizer.py); a rare mid-word fallback cut (corpus_text.safe_cut) barely moves counts.
TRAIN_CHUNK_CHARS = 1 << 12

EventCallback = Callable[[dict[str, Any]], None]


@dataclass
class TokenizerConfig:
    vocab_size: int
    min_frequency: int = 2
    special_tokens: list[str] = field(default_factory=lambda: list(SPECIAL_TOKENS))

    def validate(self) -> None:
        """Raise LmcoreError on settings the trainer would refuse or silently mangle."""
        smallest = 256 + len(self.special_tokens)
        if not smallest <= self.vocab_size <= MAX_VOCAB_SIZE:
            raise LmcoreError(
                f"vocab size {self.vocab_size} is out of range: it must be between {smallest} "
                f"(256 bytes + {len(self.special_tokens)} special tokens) and {MAX_VOCAB_SIZE:,}"
            )
        if self.min_frequency < 0:
            raise LmcoreError(f"min frequency must be 0 or more, not {self.min_frequency}")
        if len(set(self.special_tokens)) != len(self.special_tokens):
            raise LmcoreError(f"special tokens repeat: {self.special_tokens}")
        splitter = _hf_pre_tokenizer()
        for token in self.special_tokens:
            if len(splitter.pre_tokenize_str(token)) < 2:
                raise LmcoreError(
                    f"special token {token!r} could also be spelt by ordinary text; "
                    "use a delimited form such as '<|name|>'"
                )


@cache
def byte_to_char() -> dict[int, str]:
    """GPT-2's byte -> printable character map, the one HF's `ByteLevel` uses."""
    printable = [*range(ord("!"), ord("~") + 1), *range(0xA1, 0xAC + 1), *range(0xAE, 0xFF + 1)]
    extra = iter(range(256, 512))
    return {b: chr(b if b in printable else next(extra)) for b in range(256)}


@cache
def char_to_byte() -> dict[str, int]:
    return {c: b for b, c in byte_to_char().items()}


def _hf_pre_tokenizer() -> pre_tokenizers.PreTokenizer:
    return pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split(Regex(SPLIT_PATTERN), behavior="isolated"),
            # The split above already did the regex work; ByteLevel only maps bytes.
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
        ]
    )


def hf_template() -> HFTokenizer:
    """An untrained HF tokenizer with our pre-tokenizer and decoder (what training starts from)."""
    hf = HFTokenizer(models.BPE())
    hf.pre_tokenizer = _hf_pre_tokenizer()
    hf.decoder = decoders.ByteLevel()  # for HF-side users of tokenizer.json; we decode ourselves
    return hf


class Tokenizer:
    """A trained byte-level BPE tokenizer; see the module docstring for the contract."""

    def __init__(self, hf: HFTokenizer) -> None:
        """Wrap a trained HF tokenizer; `from_str`/`load` check a file before they get here."""
        self._hf = hf
        added = hf.get_added_tokens_decoder()
        self._specials = {t.content: i for i, t in added.items()}
        self._added = list(added.values())
        self._special_pattern: tuple[re.Pattern[str], list[str]] | None = None
        # Same model object (shared in Rust, not copied) but no added tokens: for user text.
        self._plain = HFTokenizer(hf.model)
        self._plain.pre_tokenizer = hf.pre_tokenizer
        self._table: list[bytes] | None = None

    # -- persistence ----------------------------------------------------------------------

    @classmethod
    def load(cls, path: str | Path) -> Tokenizer:
        path = Path(path)
        file = path / TOKENIZER_FILE if path.is_dir() else path
        try:
            text = file.read_text(encoding="utf-8")
        except OSError as exc:
            raise LmcoreError(f"{file}: cannot read tokenizer ({exc.strerror})") from exc
        except UnicodeDecodeError as exc:
            raise LmcoreError(f"{file}: tokenizer.json is not UTF-8") from exc
        return cls.from_str(text)

    @classmethod
    def from_str(cls, json_str: str) -> Tokenizer:
        try:
            spec = json.loads(json_str)
            hf = HFTokenizer.from_str(json_str)
        except Exception as exc:  # HF raises a bare Exception for malformed JSON
            first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise LmcoreError(f"invalid tokenizer.json: {first}") from exc
        _check_spec(spec)
        return cls(hf)

    def save(self, directory: str | Path) -> Path:
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        path = directory / TOKENIZER_FILE
        tmp = path.with_suffix(".json.tmp")
        tmp.write_text(self.to_str(), encoding="utf-8")
        tmp.replace(path)  # atomic: readers never see half a file
        return path

    def to_str(self) -> str:
        return self._hf.to_str()

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Tokenizer) and self.to_str() == other.to_str()

    # -- vocabulary -----------------------------------------------------------------------

    @property
    def vocab_size(self) -> int:
        return self._hf.get_vocab_size(with_added_tokens=True)

    @property
    def special_tokens(self) -> dict[str, int]:
        """Special token text -> id."""
        return dict(self._specials)

    @property
    def eot_id(self) -> int | None:
        return self._specials.get("<|endoftext|>")

    def special_id(self, token: str) -> int:
        try:
            return self._specials[token]
        except KeyError:
            raise LmcoreError(f"tokenizer has no special token {token!r}") from None

    def token_bytes(self, token_id: int) -> bytes:
        table = self.bytes_table()
        if not 0 <= token_id < len(table):
            raise LmcoreError(
                f"token id {token_id} is outside the vocabulary (0..{len(table) - 1})"
            )
        return table[token_id]

    def bytes_table(self) -> list[bytes]:
        """Raw bytes of every token, index = id (a token may hold part of a character).

        The list is built once and shared: read it, do not modify it.
        """
        if self._table is None:
            table = [b""] * self.vocab_size
            decode = char_to_byte()
            for text, token_id in self._plain.get_vocab().items():
                if token_id < len(table):
                    try:
                        table[token_id] = bytes(decode[c] for c in text)
                    except KeyError:  # not byte-level text (a special kept in the model vocab)
                        table[token_id] = text.encode("utf-8")
            for text, token_id in self._specials.items():
                table[token_id] = text.encode("utf-8")
            self._table = table
        return self._table

    def merges(self) -> list[tuple[int, int, int]]:
        """(left id, right id, merged id) for each merge, in rank order (rank = index)."""
        model = json.loads(self.to_str())["model"]  # HF exposes merges only in the JSON
        vocab = model["vocab"]
        return [(vocab[a], vocab[b], vocab[a + b]) for a, b in _parse_merges(model["merges"])]

    def pre_tokenize(self, text: str) -> list[bytes]:
        """The pieces user text is split into before merging; merges never cross them."""
        decode = char_to_byte()
        pieces = self._plain.pre_tokenizer.pre_tokenize_str(text)
        return [bytes(decode[c] for c in piece) for piece, _ in pieces]

    # -- encode / decode ------------------------------------------------------------------

    def encode(self, text: str) -> list[int]:
        """Ids of user text; a literal special-token string stays ordinary bytes."""
        return self._plain.encode(text, add_special_tokens=False).ids

    def encode_batch(self, texts: list[str]) -> list[list[int]]:
        """`encode` on many texts at once, in parallel threads (HF releases the GIL)."""
        encodings = self._plain.encode_batch_fast(texts, add_special_tokens=False)
        return [e.ids for e in encodings]

    def split_specials(self, text: str) -> list[str | int]:
        """Trusted text (never user text) cut at the special tokens it spells, as HF matches
        added tokens (leftmost-longest; lstrip/rstrip/single_word honoured): text pieces and
        special ids in order. Example: `tok.split_specials("<|user|>hi")` -> `[3, "hi"]`."""
        if not self._added:
            return [text] if text else []
        if self._special_pattern is None:
            self._special_pattern = _added_token_pattern(self._added)
        pattern, contents = self._special_pattern
        out: list[str | int] = []
        at = 0
        for match in pattern.finditer(text):
            if match.start() > at:
                out.append(text[at : match.start()])
            out.append(self._specials[contents[match.lastindex - 1]])
            at = match.end()
        if at < len(text):
            out.append(text[at:])
        return out

    def decode(self, ids: Iterable[int]) -> str:
        """Text of ids; bytes that do not form UTF-8 (a cut character) become U+FFFD."""
        table = self.bytes_table()
        ids = ids.tolist() if hasattr(ids, "tolist") else list(ids)
        if ids and (min(ids) < 0 or max(ids) >= len(table)):
            bad = next(i for i in ids if not 0 <= i < len(table))
            raise LmcoreError(f"token id {bad} is outside the vocabulary (0..{len(table) - 1})")
        return b"".join([table[i] for i in ids]).decode("utf-8", errors="replace")


def _added_token_pattern(added: list[Any]) -> tuple[re.Pattern[str], list[str]]:
    """One alternation of the added tokens, longest first (Python's regex takes the first
    alternative matching at the leftmost position: leftmost-longest, as HF's matcher), and
    the token each capturing group (the token without the white space it takes) stands for."""
    alternatives, contents = [], []
    for token in sorted(added, key=lambda t: len(t.content), reverse=True):
        core = re.escape(token.content)
        if token.single_word:
            core = rf"(?<!\w){core}(?!\w)"
        left, right = (r"\s*" if token.lstrip else ""), (r"\s*" if token.rstrip else "")
        alternatives.append(f"{left}({core}){right}")
        contents.append(token.content)
    return re.compile("|".join(alternatives)), contents


def _check_spec(spec: dict[str, Any]) -> None:
    """Refuse a tokenizer.json that our encode/decode would get wrong."""
    model = spec.get("model") or {}
    if model.get("type") != "BPE" or "ByteLevel" not in json.dumps(spec.get("pre_tokenizer")):
        raise LmcoreError("tokenizer.json does not hold a byte-level BPE tokenizer")
    if spec.get("normalizer") is not None:
        raise LmcoreError("tokenizer.json has a normalizer; Bottega tokenizers encode raw bytes")
    merged = {a + b for a, b in _parse_merges(model.get("merges") or [])}
    for token in spec.get("added_tokens") or []:
        spelt = "".join(byte_to_char()[b] for b in token["content"].encode("utf-8"))
        if spelt in merged:  # encode would produce the special's id from user text
            raise LmcoreError(
                f"tokenizer.json: merges can spell special token {token['content']!r}"
            )


def _parse_merges(raw: Sequence[Any]) -> list[tuple[str, str]]:
    # tokenizers >= 0.20 writes [left, right]; older files "left right" (byte-level text has
    # no plain spaces, so the split is unambiguous).
    return [tuple(m) if isinstance(m, list) else tuple(m.split(" ", 1)) for m in raw]


def train_tokenizer(
    inputs: Sequence[str | Path],
    config: TokenizerConfig,
    on_event: EventCallback | None = None,
    val_fraction: float = 0.0,
) -> Tokenizer:
    """Learn merges from text files, streamed in chunks (memory bounded by the word counts).

    `val_fraction` holds out the tail of each file exactly as a training run with that
    fraction does (lmcore/documents.py), so the tokenizer never learns from validation text.
    Events: {"event": "progress", "bytes_read", "bytes_total"} while reading (throttled),
    then {"event": "trained", "vocab_size", "bytes", "seconds"} (bytes: of training text).
    """
    config.validate()
    paths = [Path(p) for p in inputs]
    if corpus_bytes(paths) == 0:
        raise LmcoreError("empty corpus: the input files hold no text")
    parts = split_files(paths, val_fraction)[0]
    total = sum(part_read_bytes(p) for p in parts)
    started = time.perf_counter()
    hf = hf_template()
    trainer = trainers.BpeTrainer(
        vocab_size=config.vocab_size,
        min_frequency=config.min_frequency,
        special_tokens=list(config.special_tokens),
        # All 256 bytes, seen or not: otherwise an unseen byte would be silently dropped.
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    progress = Progress(on_event, total)
    text = iter_training_text(paths, val_fraction, on_bytes=progress.advance)
    chunks = iter_chunks(text, TRAIN_CHUNK_CHARS)
    hf.train_from_iterator(chunks, trainer=trainer)
    progress.finish()
    tokenizer = Tokenizer(hf)
    if on_event is not None:
        seconds = time.perf_counter() - started
        on_event(
            {"event": "trained", "vocab_size": tokenizer.vocab_size, "bytes": total,
             "seconds": round(seconds, 3)}
        )  # fmt: skip
    return tokenizer
