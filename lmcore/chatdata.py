"""Conversation data for fine-tuning: rendered once to ids + loss mask on disk, drawn as rows.

`encode_chat_data` streams conversation JSONL files (checked line by line by
lmcore/conversations.py), renders each with the parent model's chat template and its loss
mask (lmcore/chat.py; lmcore's layout when none is given) and writes
`{train,val}.ids.bin` (token ids), `{train,val}.mask.bin` (uint8: 1 where the token is an
assistant target), `{train,val}.offsets.npy` (where each conversation starts) and
`meta.json` (last, so a crash never leaves data that looks complete). The meta also keeps
what the fine-tuned checkpoint must carry from its parent (`carried`: the template the data
was rendered with, generation defaults, an import's record; lmcore/chat_config.py), the
parent's beginning-of-text convention, the template's end ids and a few held-out questions
for the run's samples, so a resume needs nothing from the parent but its weights' copy. Each file holds out its
own last `val_fraction` of conversations (at least one when it has two or more), as text
corpora hold out their tails (lmcore/documents.py).

A conversation longer than the model's context + 1 tokens cannot be trained on whole; it is
left out, and the count comes back in a "warning" event and in meta.json (refusing the whole
file for a few long lines would be harsher; truncating would teach replies cut mid-way).

Rows, not windows: a training row is one whole conversation (so an answer is never seen
without its question), padded to the longest row of its batch; padding and non-assistant
tokens have target -1, which the loss ignores. With text corpora mixed in at `text_ratio`,
that share of the rows are random windows of the text corpus (every token a target), as
ordinary training draws them.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from lmcore.chat import render
from lmcore.chat_config import lmcore_template
from lmcore.chat_template import ChatTemplate
from lmcore.conversations import Limits, iter_conversations
from lmcore.data import dtype_for, tokenizer_digest
from lmcore.documents import BOS_TOKEN, VAL_FRACTION
from lmcore.errors import LmcoreError
from lmcore.tokenizer import Tokenizer

FORMAT = "lmcore-chat-data"
FORMAT_VERSION = 1
SPLITS = ("train", "val")
QUESTIONS = 8  # held-out questions kept for samples


@dataclass
class ChatData:
    directory: Path
    dtype: str
    vocab_size: int
    context: int  # the longest conversation kept is context + 1 tokens
    conversations: dict[str, int]  # per split
    tokens: dict[str, int]  # per split
    targets: dict[str, int]  # assistant tokens per split (the loss's denominator)
    skipped: int  # conversations left out: longer than the context
    tokenizer_sha256: str
    files: list[dict[str, Any]] = field(default_factory=list)  # name, val conversation range
    end_ids: list[int] = field(default_factory=list)  # where a reply ends (the template's)
    questions: list[str] = field(default_factory=list)  # last user message of val 0, 1, ...
    carried: dict[str, Any] = field(default_factory=dict)  # for the fine-tuned checkpoint
    bos_token: str | None = BOS_TOKEN  # the parent's document convention (documents.py)

    def arrays(self, split: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(ids, mask, offsets) of a split; conversation i is ids[offsets[i]:offsets[i+1]]."""
        if split not in SPLITS:
            raise LmcoreError(f"unknown split {split!r}: expected one of {SPLITS}")
        d = self.directory
        ids = _read(d / f"{split}.ids.bin", np.dtype(self.dtype).newbyteorder("<"))
        mask = _read(d / f"{split}.mask.bin", np.dtype(np.uint8))
        return ids, mask, np.load(d / f"{split}.offsets.npy")

    def conversation(self, split: str, i: int) -> tuple[np.ndarray, np.ndarray]:
        ids, mask, offsets = self.arrays(split)
        return ids[offsets[i] : offsets[i + 1]], mask[offsets[i] : offsets[i + 1]]


def _read(path: Path, dtype: np.dtype) -> np.ndarray:
    if path.stat().st_size == 0:
        return np.empty(0, dtype=dtype)
    return np.memmap(path, dtype=dtype, mode="r")


class _SplitWriter:
    def __init__(self, directory: Path, split: str, dtype: str) -> None:
        self.ids = (directory / f"{split}.ids.bin").open("wb")
        self.mask = (directory / f"{split}.mask.bin").open("wb")
        self.dtype = np.dtype(dtype).newbyteorder("<")
        self.offsets, self.targets = [0], 0

    def add(self, ids: list[int], mask: list[int]) -> None:
        np.asarray(ids, dtype=self.dtype).tofile(self.ids)
        np.asarray(mask, dtype=np.uint8).tofile(self.mask)
        self.offsets.append(self.offsets[-1] + len(ids))
        self.targets += sum(mask)

    def close(self, directory: Path, split: str) -> None:
        self.ids.close()
        self.mask.close()
        np.save(directory / f"{split}.offsets.npy", np.asarray(self.offsets, dtype=np.int64))


def encode_chat_data(
    tokenizer: Tokenizer,
    inputs: Sequence[str | Path],
    out_dir: str | Path,
    *,
    context: int,
    val_fraction: float = VAL_FRACTION,
    limits: Limits | None = None,
    on_event: Callable[[dict[str, Any]], None] | None = None,
    template: ChatTemplate | None = None,
    carried: dict[str, Any] | None = None,
    bos_token: str | None = BOS_TOKEN,
) -> ChatData:
    """Render conversation files into out_dir with `template` (None: lmcore's layout); see
    the module docstring. `carried` and `bos_token` are the parent's, kept in the meta."""
    template = template or lmcore_template(tokenizer)
    limits = limits or Limits()
    if not 0.0 < val_fraction < 1.0:
        raise LmcoreError(f"val fraction must be in (0, 1), not {val_fraction}")
    paths, out_dir = [Path(p) for p in inputs], Path(out_dir)
    if not paths:
        raise LmcoreError("no conversation files given")
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "meta.json").unlink(missing_ok=True)
    dtype = dtype_for(tokenizer.vocab_size)
    writers = {s: _SplitWriter(out_dir, s, dtype) for s in SPLITS}
    skipped, files, questions = 0, [], []
    try:
        for path in paths:
            count = sum(1 for _ in iter_conversations(path, limits))  # checks every line first
            held = max(round(count * val_fraction), 1 if count >= 2 else 0)
            start = len(writers["val"].offsets) - 1
            for i, (line, messages) in enumerate(iter_conversations(path, limits)):
                try:
                    rendered = render(tokenizer, messages, template=template)
                except LmcoreError as exc:
                    raise LmcoreError(f"{path.name}, line {line}: {exc}") from None
                if len(rendered) > context + 1:
                    skipped += 1
                    continue
                split = "val" if i >= count - held else "train"
                writers[split].add(rendered.ids, rendered.mask)
                if split == "val" and len(questions) < QUESTIONS:
                    questions.append(next(m["content"] for m in reversed(messages)
                                          if m["role"] == "user"))  # fmt: skip
            files.append({"name": path.name, "val_start": start,
                          "val_end": len(writers["val"].offsets) - 1})  # fmt: skip
    finally:
        for split, writer in writers.items():
            writer.close(out_dir, split)
    data = ChatData(
        directory=out_dir, dtype=dtype, vocab_size=tokenizer.vocab_size, context=context,
        conversations={s: len(w.offsets) - 1 for s, w in writers.items()},
        tokens={s: w.offsets[-1] for s, w in writers.items()},
        targets={s: w.targets for s, w in writers.items()}, skipped=skipped,
        tokenizer_sha256=tokenizer_digest(tokenizer), files=files,
        end_ids=list(template.end_ids), questions=questions,
        carried=carried if carried is not None else {"chat_template": template.to_config()},
        bos_token=bos_token,
    )  # fmt: skip
    _check_usable(data)
    if skipped and on_event is not None:
        on_event({"event": "warning", "message": _skipped_message(skipped, context)})
    meta = {"format": FORMAT, "format_version": FORMAT_VERSION, **_fields(data)}
    tmp = out_dir / "meta.json.tmp"
    tmp.write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
    tmp.replace(out_dir / "meta.json")
    return data


def _skipped_message(skipped: int, context: int) -> str:
    return (f"{skipped} conversation{'s' if skipped > 1 else ''} longer than the model's "
            f"context ({context} tokens) left out")  # fmt: skip


def _check_usable(data: ChatData) -> None:
    if data.conversations["train"] == 0 or data.targets["train"] == 0:
        why = (f"every conversation is longer than the model's context ({data.context} tokens)"
               if data.skipped else "it holds too few conversations")  # fmt: skip
        raise LmcoreError(f"the chat data leaves nothing to train on: {why}")
    if data.conversations["val"] == 0:
        raise LmcoreError(
            "no conversation is left for validation: give at least two conversations that "
            "fit the model's context"
        )


def _fields(data: ChatData) -> dict[str, Any]:
    return {k: v for k, v in asdict(data).items() if k != "directory"}


def load_chat_data(directory: str | Path) -> ChatData:
    """Open chat data written by `encode_chat_data`."""
    directory = Path(directory)
    try:
        meta = json.loads((directory / "meta.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise LmcoreError(f"{directory}: not encoded chat data (no readable meta.json)") from exc
    if meta.get("format") != FORMAT or meta.get("format_version") != FORMAT_VERSION:
        raise LmcoreError(f"{directory}: unsupported chat data format")
    names = {k for k in ChatData.__dataclass_fields__ if k != "directory"}
    # Data rendered before templates were data lacks the newer fields: their defaults fit it.
    return ChatData(directory=directory, **{k: meta[k] for k in names if k in meta})


def chat_rows(data: ChatData, split: str, indices: Sequence[int]) -> tuple[np.ndarray, np.ndarray]:
    """Inputs and targets (B, T) of whole conversations, padded to the longest: targets are
    -1 except at the replies' tokens (and what ends each, e.g. <|end|>)."""
    ids, mask, offsets = data.arrays(split)
    longest = max(int(offsets[i + 1] - offsets[i]) for i in indices)
    x = np.zeros((len(indices), longest - 1), dtype=np.int64)
    y = np.full((len(indices), longest - 1), -1, dtype=np.int64)
    for row, i in enumerate(indices):
        a, b = int(offsets[i]), int(offsets[i + 1])
        conv, targets = ids[a:b].astype(np.int64), mask[a:b].astype(bool)
        x[row, : b - a - 1] = conv[:-1]
        y[row, : b - a - 1] = np.where(targets[1:], conv[1:], -1)
    return x, y
