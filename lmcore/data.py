"""Encoded corpora on disk: text files (streamed by lmcore/corpus_text.py) to token-id arrays.

An encoded corpus is a directory: `train.bin`, `val.bin` (raw little-endian uint16 when the
vocabulary fits in 65,536 ids, else uint32) and `meta.json` (token and byte counts, written
last so a crash never leaves a corpus that looks complete).

Documents and the split (lmcore/documents.py): every document is written as `<|endoftext|>`
followed by its ids, so the model sees where texts begin and end. Each corpus file holds out
its own tail, the last `val_fraction` of its bytes (a text file, cut on a character boundary)
or of its documents (a JSONL text corpus): with several corpora, validation covers each of
them, not mostly the last one. The held-out part of a file also starts with `<|endoftext|>`,
so every one of its bytes is scored. `val.bin` is those parts one after another and
`meta.json` records where each lies (`val_parts`: name, start, tokens, bytes), so bits per
byte can be reported per corpus and overall. Bytes count text only: special tokens add none.

Format 1 (before document boundaries: the files concatenated with no separator and one
validation tail) still loads; its `bos_token` is None and it has one validation segment.

Text is encoded in chunks of ~64K characters cut where BPE would cut anyway, so memory stays
bounded and the ids equal whole-text encoding (see lmcore/corpus_text.py for the one
exception and the trade-off).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from lmcore.corpus_text import Progress, corpus_bytes, iter_chunks, iter_text
from lmcore.documents import BOS_TOKEN, VAL_FRACTION, Part, iter_documents, split_files
from lmcore.errors import LmcoreError
from lmcore.tokenizer import Tokenizer

CHUNK_CHARS = 1 << 16  # for encoding; training uses smaller chunks (tokenizer.py)
ENCODE_BATCH_CHUNKS = 32  # chunks per encode_batch call: enough to keep every thread busy
FORMAT_VERSION = 2  # 1: no document boundaries, one validation tail (still loaded)
SPLITS = ("train", "val")


def dtype_for(vocab_size: int) -> str:
    return "uint16" if vocab_size <= 1 << 16 else "uint32"


@dataclass
class EncodedCorpus:
    directory: Path
    dtype: str  # "uint16" | "uint32"
    vocab_size: int
    train_tokens: int
    val_tokens: int
    train_bytes: int  # UTF-8 bytes the train tokens decode to
    val_bytes: int
    tokenizer_sha256: str = ""  # of tokenizer.json's text: tells a stale cache from a good one
    bos_token: str | None = None  # starts every document; None: format 1, raw concatenation
    # Per corpus file: where its validation tokens lie in val.bin, and their UTF-8 bytes.
    val_parts: list[dict[str, Any]] = field(default_factory=list)

    def split(self, name: str) -> np.ndarray:
        """Token ids of "train" or "val" as a read-only memmap (a plain empty array if empty)."""
        if name not in SPLITS:
            raise LmcoreError(f"unknown split {name!r}: expected one of {SPLITS}")
        path = self.directory / f"{name}.bin"
        if path.stat().st_size == 0:
            return np.empty(0, dtype=self.dtype)  # mmap cannot map an empty file
        return np.memmap(path, dtype=np.dtype(self.dtype).newbyteorder("<"), mode="r")

    def val_segments(self) -> list[tuple[str, np.ndarray]]:
        """(corpus file name, its validation tokens); one "all" segment for format 1."""
        val = self.split("val")
        if not self.val_parts:
            return [("all", val)]
        return [(p["name"], val[p["start"] : p["start"] + p["tokens"]]) for p in self.val_parts]


def tokenizer_digest(tokenizer: Tokenizer) -> str:
    return hashlib.sha256(tokenizer.to_str().encode("utf-8")).hexdigest()


def encode_corpus(
    tokenizer: Tokenizer,
    inputs: Sequence[str | Path],
    out_dir: str | Path,
    val_fraction: float = VAL_FRACTION,
    on_event: Callable[[dict[str, Any]], None] | None = None,
) -> EncodedCorpus:
    """Encode files to out_dir/{train,val}.bin + meta.json; see the module docstring."""
    paths, out_dir = [Path(p) for p in inputs], Path(out_dir)
    total = corpus_bytes(paths)
    if total == 0:
        raise LmcoreError("empty corpus: the input files hold no text")
    if BOS_TOKEN not in tokenizer.special_tokens:
        raise LmcoreError(
            f"the tokenizer has no {BOS_TOKEN} token, which starts every document: train a "
            "tokenizer with the default special tokens"
        )
    train_parts, val_parts = split_files(paths, val_fraction)
    dtype = dtype_for(tokenizer.vocab_size)
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "meta.json").unlink(missing_ok=True)  # the old corpus is gone from here on
    progress = Progress(on_event, total)
    writer = _Writer(tokenizer, dtype, progress)
    train_tokens, train_bytes, _ = writer.write(train_parts, out_dir / "train.bin")
    val_tokens, val_bytes, val_meta = writer.write(val_parts, out_dir / "val.bin")
    progress.finish()
    corpus = EncodedCorpus(
        directory=out_dir, dtype=dtype, vocab_size=tokenizer.vocab_size,
        train_tokens=train_tokens, val_tokens=val_tokens, train_bytes=train_bytes,
        val_bytes=val_bytes, tokenizer_sha256=tokenizer_digest(tokenizer), bos_token=BOS_TOKEN,
        val_parts=val_meta,
    )  # fmt: skip
    meta = {"format": FORMAT_VERSION, "val_fraction": val_fraction,
            "inputs": [p.name for p in paths], **_meta_fields(corpus)}  # fmt: skip
    tmp = out_dir / "meta.json.tmp"
    tmp.write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
    tmp.replace(out_dir / "meta.json")
    return corpus


class _Writer:
    """Writes parts to a token file: each document is BOS + its ids, chunks encoded in
    batches across documents (many short JSONL documents still fill the encoder's threads)."""

    def __init__(self, tokenizer: Tokenizer, dtype: str, progress: Progress) -> None:
        self.tokenizer, self.progress = tokenizer, progress
        self.little = np.dtype(dtype).newbyteorder("<")
        self.bos = tokenizer.special_id(BOS_TOKEN)

    def write(self, parts: list[Part], out: Path) -> tuple[int, int, list[dict[str, Any]]]:
        """(tokens, bytes, one {"name", "start", "tokens", "bytes"} per non-empty part)."""
        tokens, nbytes, written = 0, 0, []
        tmp = out.with_suffix(".bin.tmp")
        with tmp.open("wb") as f:
            for part in parts:
                part_tokens, part_bytes = 0, 0
                for ids, size in self._encoded(part):
                    np.asarray(ids, dtype=self.little).tofile(f)
                    part_tokens, part_bytes = part_tokens + len(ids), part_bytes + size
                if part_tokens:
                    written.append({"name": part.name, "start": tokens, "tokens": part_tokens,
                                    "bytes": part_bytes})  # fmt: skip
                tokens, nbytes = tokens + part_tokens, nbytes + part_bytes
        tmp.replace(out)
        return tokens, nbytes, written

    def _encoded(self, part: Part) -> Iterator[tuple[list[int], int]]:
        """(ids, UTF-8 bytes) per BOS or chunk of the part, in order."""
        items = (
            item
            for document in iter_documents(part, on_bytes=self.progress.advance)
            for item in (None, *iter_chunks(document, CHUNK_CHARS))
        )
        for batch in _batched(items, ENCODE_BATCH_CHUNKS):
            texts = [t for t in batch if t is not None]
            encoded = iter(self.tokenizer.encode_batch(texts) if texts else [])
            for item in batch:
                if item is None:
                    yield [self.bos], 0
                else:
                    yield next(encoded), len(item.encode("utf-8"))


def iter_encoded(
    tokenizer: Tokenizer, paths: Sequence[Path], lo: int = 0, hi: int | None = None, on_bytes=None
) -> Iterator[list[int]]:
    """Ids of bytes [lo, hi) of the concatenated files, one list per chunk, in order."""
    chunks = iter_chunks(iter_text(paths, lo, hi, on_bytes=on_bytes), CHUNK_CHARS)
    for batch in _batched(chunks, ENCODE_BATCH_CHUNKS):
        yield from tokenizer.encode_batch(batch)


def count_tokens(tokenizer: Tokenizer, inputs: Sequence[str | Path]) -> tuple[int, int]:
    """(tokens, bytes) of files concatenated, streamed: the basis of bytes per token."""
    paths = [Path(p) for p in inputs]
    total = corpus_bytes(paths)
    return sum(len(ids) for ids in iter_encoded(tokenizer, paths)), total


def _batched(items: Iterable[Any], n: int) -> Iterator[list[Any]]:
    batch: list[Any] = []
    for item in items:
        batch.append(item)
        if len(batch) == n:
            yield batch
            batch = []
    if batch:
        yield batch


_META_FIELDS = ("dtype", "vocab_size", "train_tokens", "val_tokens", "train_bytes", "val_bytes",
                "tokenizer_sha256")  # fmt: skip
_META_FIELDS_V2 = ("bos_token", "val_parts")


def _meta_fields(corpus: EncodedCorpus) -> dict[str, Any]:
    return {name: getattr(corpus, name) for name in (*_META_FIELDS, *_META_FIELDS_V2)}


def load_encoded(directory: str | Path) -> EncodedCorpus:
    """Open an encoded corpus directory written by `encode_corpus`."""
    directory = Path(directory)
    try:
        meta = json.loads((directory / "meta.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise LmcoreError(f"{directory}: not an encoded corpus (no readable meta.json)") from exc
    if meta.get("format") not in (1, FORMAT_VERSION):
        raise LmcoreError(f"{directory}: unsupported encoded corpus format {meta.get('format')}")
    names = _META_FIELDS if meta["format"] == 1 else (*_META_FIELDS, *_META_FIELDS_V2)
    try:
        corpus = EncodedCorpus(directory=directory, **{k: meta[k] for k in names})
    except KeyError as exc:
        raise LmcoreError(f"{directory}: meta.json lacks {exc.args[0]!r}") from None
    for name in SPLITS:
        path = directory / f"{name}.bin"
        expected = getattr(corpus, f"{name}_tokens") * np.dtype(corpus.dtype).itemsize
        if not path.is_file() or path.stat().st_size != expected:
            raise LmcoreError(f"{path}: missing or not the size meta.json records")
    return corpus


def check_compatible(model_config: Any, corpus: Any, chat: Any, tokenizer: Tokenizer) -> None:
    """Refuse, with the fix in the message, a model, an encoded corpus (or chat data) and a
    tokenizer that do not belong together, before any training step."""
    if chat is not None:
        if not model_config.vocab_size == chat.vocab_size == tokenizer.vocab_size:
            raise LmcoreError("the chat data was rendered with another tokenizer: encode it again")
        if chat.context != model_config.context:
            raise LmcoreError(
                f"the chat data was prepared for context {chat.context}, the model has "
                f"{model_config.context}: encode it again"
            )
        if corpus is None:
            return
    if not model_config.vocab_size == corpus.vocab_size == tokenizer.vocab_size:
        raise LmcoreError(
            f"vocabulary sizes differ: model {model_config.vocab_size}, corpus "
            f"{corpus.vocab_size}, tokenizer {tokenizer.vocab_size} (re-encode the corpus?)"
        )
    if corpus.train_tokens <= model_config.context:
        raise LmcoreError(
            f"the training split has {corpus.train_tokens} tokens, not more than the context "
            f"({model_config.context}): use more text or a smaller --context"
        )
    if corpus.val_tokens < 2:
        raise LmcoreError("the validation split is empty: raise --val-fraction or add text")
