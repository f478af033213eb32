"""The tokenizer and the encoded corpus a run trains on, with each file's validation tail held
out: the one path of the product and the benchmarks.

Every figure Bottega reports (a run's val bpb, `python -m lmcore eval --val-fraction X`, the
benchmarks in bench/) scores the last X of each corpus file (lmcore/documents.py). The
tokenizer must never have learnt from that text, or its merges fit the validation tail and
bytes per token (hence bits per byte) look better than they are. So:

- `train_held_out_tokenizer` is the only way a tokenizer is made from corpora: `python -m
  lmcore tokenizer train`, the web's tokenizer runs (workers/tokenization.py) and every
  benchmark call it;
- `encode_held_out` encodes a run's corpus with the same split: `prepare(spec)` (before any
  training process of `python -m lmcore train` and of the web's training runs), and the
  benchmarks;
- `prepare_text` is both in one call, for the benchmarks: what a user gets from `tokenizer
  train` then `train`, with the same fraction.

`prepare`, `prepare_chat`, `open_prepared` and `open_chat` make or open a run's data from its
run file (lmcore/runspec.py, the format). Torch-free.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from lmcore.chat import finetune_start
from lmcore.chatdata import ChatData, encode_chat_data, load_chat_data
from lmcore.data import EncodedCorpus, encode_corpus, load_encoded, tokenizer_digest
from lmcore.documents import VAL_FRACTION
from lmcore.errors import LmcoreError
from lmcore.runspec import RunSpec, parent_dir, read_json
from lmcore.tokenizer import Tokenizer, TokenizerConfig, train_tokenizer

EventCallback = Callable[[dict[str, Any]], None]


def train_held_out_tokenizer(
    inputs: Sequence[str | Path],
    config: TokenizerConfig,
    val_fraction: float = VAL_FRACTION,
    on_event: EventCallback | None = None,
) -> Tokenizer:
    """A tokenizer learnt from the training part of each file only: the last `val_fraction`
    of each (the tail a run with that fraction validates on) is never read."""
    return train_tokenizer(inputs, config, on_event=on_event, val_fraction=val_fraction)


def encode_held_out(
    tokenizer: Tokenizer,
    inputs: Sequence[str | Path],
    out_dir: str | Path,
    val_fraction: float = VAL_FRACTION,
    on_event: EventCallback | None = None,
) -> EncodedCorpus:
    """The files encoded into out_dir, each one's last `val_fraction` as validation."""
    return encode_corpus(tokenizer, inputs, out_dir, val_fraction=val_fraction, on_event=on_event)


def prepare_text(
    inputs: Sequence[str | Path],
    vocab_size: int,
    out_dir: str | Path,
    val_fraction: float = VAL_FRACTION,
    on_event: EventCallback | None = None,
) -> tuple[Tokenizer, EncodedCorpus]:
    """A tokenizer of `vocab_size` (default settings, as `tokenizer train --vocab-size N`)
    and the corpus encoded with it, one split for both: `tokenizer train` then `train`."""
    if not 0 < val_fraction < 1:
        raise LmcoreError(f"val fraction must be in (0, 1), not {val_fraction}")
    tokenizer = train_held_out_tokenizer(
        inputs, TokenizerConfig(vocab_size=vocab_size), val_fraction, on_event
    )
    return tokenizer, encode_held_out(tokenizer, inputs, out_dir, val_fraction, on_event)


def prepare(spec: RunSpec, on_event=None) -> tuple[EncodedCorpus, Tokenizer]:
    """Encode the corpus into the data directory unless it is there already (made with this
    tokenizer), write OUT/run.json, and return both. Runs once, before any training process."""
    tokenizer = _tokenizer(spec)
    data_dir = spec.data_dir
    if (data_dir / "meta.json").is_file():
        corpus = load_encoded(data_dir)
        if corpus.tokenizer_sha256 == tokenizer_digest(tokenizer):
            spec.save()
            return corpus, tokenizer
    if not spec.data.inputs and spec.finetune is not None:
        spec.save()
        return None, tokenizer  # conversations only
    if not spec.data.inputs:
        raise LmcoreError(f"{data_dir}: no encoded corpus, and no data.inputs (--input) to encode")
    corpus = encode_held_out(
        tokenizer, spec.data.inputs, data_dir, spec.data.val_fraction, on_event
    )
    spec.save()
    return corpus, tokenizer


def prepare_chat(spec: RunSpec, tokenizer: Tokenizer, on_event=None) -> ChatData:
    """Render the conversations into spec.chat_dir unless they are there already (same
    tokenizer, same context). Runs once, before any training process."""
    directory = spec.chat_dir
    if (directory / "meta.json").is_file():
        data = load_chat_data(directory)
        if data.tokenizer_sha256 == tokenizer_digest(tokenizer) and (
            data.context == spec.model.context
        ):
            return data
    if not spec.finetune.chat_data:
        raise LmcoreError("no conversation files: set finetune.chat_data or pass --chat-data F")
    # The parent's own template (imported ones too), checked before any file is read.
    parent = read_json(parent_dir(Path(spec.finetune.init_from)) / "config.json")
    template, carried, bos = finetune_start(parent, tokenizer)
    return encode_chat_data(tokenizer, spec.finetune.chat_data, directory,
                            context=spec.model.context, val_fraction=spec.data.val_fraction,
                            on_event=on_event, template=template, carried=carried,
                            bos_token=bos)  # fmt: skip


def open_chat(spec: RunSpec) -> ChatData:
    """The conversations `prepare_chat` rendered, for a torchrun rank."""
    if not (spec.chat_dir / "meta.json").is_file():
        raise LmcoreError(
            f"{spec.chat_dir}: no rendered conversations. Under torchrun, prepare them once "
            "before the launch: python -m lmcore train --config RUN.json --prepare-only"
        )
    return load_chat_data(spec.chat_dir)


def open_prepared(spec: RunSpec) -> tuple[EncodedCorpus | None, Tokenizer]:
    """The corpus `prepare` made, for a process that must not encode (a torchrun rank)."""
    tokenizer = _tokenizer(spec)
    data_dir = spec.data_dir
    if spec.finetune is not None and not spec.data.inputs:
        return None, tokenizer
    if not (data_dir / "meta.json").is_file():
        raise LmcoreError(
            f"{data_dir}: no encoded corpus. Under torchrun, encode it once before the launch: "
            "python -m lmcore train --config RUN.json --prepare-only"
        )
    corpus = load_encoded(data_dir)
    if corpus.tokenizer_sha256 != tokenizer_digest(tokenizer):
        raise LmcoreError(f"{data_dir}: encoded with another tokenizer; run --prepare-only again")
    return corpus, tokenizer


def _tokenizer(spec: RunSpec) -> Tokenizer:
    """A resumed run keeps the tokenizer its checkpoint holds; a new one loads spec.tokenizer."""
    saved = spec.checkpoint_dir / "tokenizer.json"
    return Tokenizer.load(saved if spec.resume and saved.is_file() else spec.tokenizer)
