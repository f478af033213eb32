"""Held-out cloze: multiple-choice items made from the validation tail of any corpus.

Each item is a passage of the tail (`context_chars` characters) and choices for what comes
next: the real continuation (`continuation_chars`) against `choices - 1` distractors, the
continuations of other items elsewhere in the same tail. A model picks the choice it finds
most likely after the passage (the harness's multiple_choice: `acc` by total log-likelihood,
`acc_bytes` by log-likelihood per UTF-8 byte). Likelihoods of whole strings compare across
tokenizers, and the items need nothing but the corpus: they work offline, in any language,
for any user. The tail is the part training runs and tokenizers hold out
(`lmcore.documents.split_file`), so a model trained on the corpus never saw these passages.

Cuts fall on whitespace where the text has any (a continuation starts with the space before
its first word and ends before a space), else at exact character counts (scripts written
without spaces). Items come from disjoint slots of the tail, so passages never overlap.
Everything is drawn from `random.Random(seed)` in a fixed order: the same corpus and seed give
the same items. The trade-off: a distractor is real text from the same corpus, so style gives
nothing away, but it may now and then fit the passage as well as the real continuation.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lmcore.documents import VAL_FRACTION, iter_documents, split_file
from lmcore.errors import LmcoreError
from lmcore.taskfiles import harness_config

SNAP = 24  # characters a cut may move to reach whitespace


@dataclass(frozen=True)
class ClozeConfig:
    items: int = 1000
    choices: int = 4
    context_chars: int = 300
    continuation_chars: int = 60
    seed: int = 0
    val_fraction: float = VAL_FRACTION

    def validate(self) -> None:
        if not 1 <= self.items <= 100_000:
            raise LmcoreError(f"cloze items must be 1 to 100,000, not {self.items}")
        if not 2 <= self.choices <= 10:
            raise LmcoreError(f"cloze choices must be 2 to 10, not {self.choices}")
        if not (20 <= self.context_chars <= 4000 and 5 <= self.continuation_chars <= 400):
            raise LmcoreError("cloze passages are 20 to 4,000 characters, continuations 5 to 400")


def tail_documents(path: Path, val_fraction: float = VAL_FRACTION) -> list[str]:
    """The documents of a corpus file's validation tail (a text file's tail is one)."""
    _, tail = split_file(Path(path), val_fraction)
    return ["".join(doc) for doc in iter_documents(tail)]


def make_items(path: Path, config: ClozeConfig = ClozeConfig()) -> list[dict[str, Any]]:
    """Items {"context", "choices", "gold", "offset"}; see the module docstring. Fewer than
    asked when the tail has fewer slots; LmcoreError when it cannot fill one item's choices."""
    config.validate()
    slot = config.context_chars + config.continuation_chars + 2 * SNAP
    spans = []  # (document, start of the slot) for every whole slot of the tail
    docs = tail_documents(path, config.val_fraction)
    for d, text in enumerate(docs):
        spans += [(d, s) for s in range(0, len(text) - slot + 1, slot)]
    if len(spans) < config.choices:
        chars = sum(map(len, docs))
        raise LmcoreError(
            f"{Path(path).name}: its validation tail ({chars:,} characters) is too short for a "
            f"cloze task: it needs {config.choices} passages of {slot} characters"
        )
    rng = random.Random(config.seed)
    cuts = [_cut(docs[d], s, config) for d, s in spans]
    chosen = sorted(rng.sample(range(len(cuts)), min(config.items, len(cuts))))
    items = []
    for i in chosen:
        context, gold, offset = cuts[i]
        distractors = _distractors(rng, cuts, i, config.choices - 1)
        at = rng.randrange(config.choices)
        choices = distractors[:at] + [gold] + distractors[at:]
        items.append({"context": context, "choices": choices, "gold": at, "offset": offset})
    return items


def _distractors(rng: random.Random, cuts: list[tuple[str, str, int]], i: int, n: int) -> list[str]:
    """`n` continuations of other slots, distinct from each other and from item i's."""
    picked: list[str] = []
    for _ in range(100 * n):
        j = rng.randrange(len(cuts))
        text = cuts[j][1]
        if j != i and text != cuts[i][1] and text not in picked:
            picked.append(text)
            if len(picked) == n:
                return picked
    raise LmcoreError("the validation tail repeats itself too much for distinct cloze choices")


def _cut(text: str, start: int, config: ClozeConfig) -> tuple[str, str, int]:
    """(passage, continuation, offset of the continuation) from the slot at `start`."""
    begin = _after_space(text, start, start + SNAP)
    cut = _space_at(text, begin + config.context_chars, SNAP)
    end = _space_at(text, cut + config.continuation_chars, SNAP)
    if end <= cut + 1:  # no usable space: exact lengths
        cut, end = (
            begin + config.context_chars,
            begin + config.context_chars + config.continuation_chars,
        )
    return text[begin:cut], text[cut:end], cut


def _space_at(text: str, at: int, within: int) -> int:
    """The first whitespace at or after `at` (within `within` characters) that follows a
    non-space, else `at`: a cut before a word, keeping the space with what follows."""
    for i in range(at, min(at + within, len(text))):
        if text[i].isspace() and not text[i - 1].isspace():
            return i
    return at


def _after_space(text: str, lo: int, hi: int) -> int:
    """The start of the first word in [lo, hi), else lo."""
    for i in range(max(lo, 1), min(hi, len(text))):
        if text[i - 1].isspace() and not text[i].isspace():
            return i
    return lo


def write_items(items: list[dict[str, Any]], path: Path) -> Path:
    """The items as JSONL, the harness's input (`lmcore.taskfiles.harness_config`)."""
    path.write_text("".join(json.dumps(i, ensure_ascii=False) + "\n" for i in items), "utf-8")
    return path


def task_config(name: str) -> dict[str, Any]:
    """The harness settings of a cloze task: the passage, then each choice as its
    continuation (no separator: a continuation carries its own leading space)."""
    return {
        "task": name,
        "output_type": "multiple_choice",
        "doc_to_text": "context",
        "doc_to_choice": "choices",
        "doc_to_target": "gold",
        "target_delimiter": "",
        "metric_list": [{"metric": "acc"}, {"metric": "acc_bytes"}],
    }


def cloze_task(corpus: Path, config: ClozeConfig, workdir: Path, name: str | None = None) -> dict:
    """The harness task of a cloze on `corpus`: items written under `workdir`, named
    cloze_<stem> (or `name`)."""
    name = name or "cloze_" + "".join(c if c.isalnum() else "_" for c in Path(corpus).stem.lower())
    items = workdir / f"{name}-{config.seed}.jsonl"
    write_items(make_items(corpus, config), items)
    return harness_config(task_config(name), items, workdir / "datasets")
