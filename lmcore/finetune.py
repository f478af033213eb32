"""Fine-tuning for chat: a base checkpoint's weights, trained on conversations, loss on replies.

`lmcore.train.train` runs fine-tuning with the same loop, limits, events, cancel, resume and
DDP as any run; with `chat` data it asks this module for three things instead of the text
corpus's.

The three make the `Batches` interface (lmcore/batches.py) that text corpora share:

- batches (`ChatBatches.batch`): rows of whole conversations (lmcore/chatdata.py), with
  `text_ratio` of the rows drawn as random windows of a text corpus instead (keeps the base
  model's general text ability; 0 = conversations only). As in ordinary training, the global
  batch depends only on the seed and each rank takes its rows.
- evaluation (`ChatBatches.evaluate`): the held-out conversations of each file, scored on the
  assistant's tokens only (the reply and what ends it, e.g. `<|end|>`): loss in nats per
  target token, bits per byte over the reply text's bytes (special tokens add none).
- samples (`ChatBatches.samples`): the model's greedy reply to a few held-out conversations,
  from the prompt the template makes for the last reply, cut at the template's end ids.

The template (any chat version's own, imported ones included: lmcore/chat_config.py) only
shapes the rendered data (lmcore/chatdata.py); this module sees ids and masks.
`load_weights` copies the parent checkpoint's weights into the new model (and a resume's
checkpoint's, lmcore/train.py); the model's shape and the tokenizer must be the parent's
(the run takes both from it). A full fine-tune
trains every weight; with `lora` in the recipe, `starting_model` then freezes them and puts a
fresh adapter on (lmcore/lora.py): the run trains and checkpoints the adapter only, which
names the parent as its base (lmcore/adapters.py).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from lmcore.adapters import base_reference
from lmcore.chat import reply_end_ids
from lmcore.chatdata import ChatData, chat_rows
from lmcore.checkpoint import Checkpoint, load_checkpoint
from lmcore.config import LoRAConfig, TrainConfig
from lmcore.errors import LmcoreError
from lmcore.evaluate import target_nats
from lmcore.lora import add_adapter
from lmcore.model import GPT
from lmcore.tokenizer import Tokenizer

SAMPLE_CONVERSATIONS = 2


def load_weights(
    model: GPT, directory: str | Path, tokenizer: Tokenizer, whose: str,
    merge_adapter: bool = True,
) -> Checkpoint:  # fmt: skip
    """Copy a checkpoint's weights into `model`, which must have its shape and tokenizer
    (`whose`: "the parent model's" for a fine-tune's start, "the checkpoint's" for a resume);
    returns the checkpoint (its step and state, for a resume)."""
    ck = load_checkpoint(directory, next(model.parameters()).device, merge_adapter=merge_adapter)
    if ck.model_config != model.config:
        raise LmcoreError(
            f"{directory}: {whose} model config differs from this run's (a fine-tuning run "
            "keeps its parent's)"
        )
    if ck.tokenizer.to_str() != tokenizer.to_str():
        raise LmcoreError(f"{directory}: {whose} tokenizer differs from this run's")
    with torch.no_grad():
        model.load_state_dict(ck.model.state_dict())
    return ck


def starting_model(model: GPT, cfg: TrainConfig, tokenizer: Tokenizer, resume: bool) -> dict | None:
    """The parent's weights in `model` (a resume loads its checkpoint's instead), then for
    LoRA a frozen base with a fresh adapter. Returns the LoRA checkpoint's "lora" object
    (None: a full fine-tune)."""
    if not resume:
        load_weights(model, cfg.init_from, tokenizer, "the parent model's")
    if cfg.lora is None:
        return None
    lora = LoRAConfig.from_dict(cfg.lora)
    section = base_reference(lora, cfg.init_from)  # refuses a base that is an adapter itself
    add_adapter(model, lora)
    return section


class ChatBatches:
    """Batches, evaluation and samples of a chat fine-tuning run; see the module docstring."""

    def __init__(
        self, data: ChatData, text: np.ndarray | None, text_ratio: float, context: int
    ) -> None:
        if text_ratio > 0 and (text is None or len(text) <= context):
            raise LmcoreError(
                "a text ratio above 0 needs a text corpus with more tokens than the context"
            )
        self.data, self.text, self.text_ratio, self.context = data, text, text_ratio, context
        self.n_train = data.conversations["train"]
        self.offsets = data.arrays("train")[2]  # where each training conversation starts

    def batch(
        self, batch_size: int, seed: tuple[int, ...], shard: tuple[int, int], device: torch.device
    ) -> tuple[torch.Tensor, torch.Tensor, int]:
        """This rank's rows of the global batch: inputs and targets (B, T), -1 = no target,
        and the real tokens among the inputs (each row's own length, its padding left out)."""
        rank, world = shard
        rng = np.random.default_rng(seed)
        n = batch_size * world
        from_text = rng.random(n) < self.text_ratio
        picks = rng.integers(0, self.n_train, size=n)
        starts = rng.integers(0, max(len(self.text) - self.context, 1), size=n) if (
            self.text is not None) else picks  # fmt: skip
        mine = range(rank * batch_size, (rank + 1) * batch_size)
        chat_idx = [int(picks[i]) for i in mine if not from_text[i]]
        rows_x, rows_y = [], []
        if chat_idx:
            x, y = chat_rows(self.data, "train", chat_idx)
            rows_x += list(x)
            rows_y += list(y)
        for i in mine:
            if from_text[i]:
                window = self.text[starts[i] : starts[i] + self.context + 1].astype(np.int64)
                rows_x.append(window[:-1])
                rows_y.append(window[1:])
        width = max(len(r) for r in rows_x)
        x = np.zeros((len(rows_x), width), dtype=np.int64)
        y = np.full((len(rows_x), width), -1, dtype=np.int64)
        for r, (rx, ry) in enumerate(zip(rows_x, rows_y, strict=True)):
            x[r, : len(rx)], y[r, : len(ry)] = rx, ry
        offsets = self.offsets  # a conversation's inputs: its length - 1
        real = sum(int(offsets[i + 1] - offsets[i]) - 1 for i in chat_idx)
        real += (len(rows_x) - len(chat_idx)) * self.context  # text windows are full
        return torch.from_numpy(x).to(device), torch.from_numpy(y).to(device), real  # (B, T)

    def val_tokens(self) -> int:
        """The held-out replies' tokens: what a whole evaluation scores."""
        return int(self.data.targets["val"])

    @torch.no_grad()
    def evaluate(
        self,
        model: GPT,
        byte_lengths: np.ndarray,
        batch_size: int,
        max_tokens: int | None,
        shard: tuple[int, int],
    ) -> dict[str, tuple[float, int, int]]:
        """Per file: (nats, target tokens, bytes) over this rank's share of the held-out
        conversations; a bounded evaluation takes conversations spread evenly over each file."""
        device = next(model.parameters()).device
        was_training = model.training
        model.eval()
        out = {}
        try:
            for f in self.data.files:
                indices = list(range(f["val_start"], f["val_end"]))
                if max_tokens is not None and indices:
                    keep = max(1, max_tokens * len(indices) // max(self.data.tokens["val"], 1))
                    picks = np.linspace(0, len(indices) - 1, min(keep, len(indices))).round()
                    indices = [indices[int(i)] for i in dict.fromkeys(picks)]
                indices = indices[shard[0] :: shard[1]]
                out[f["name"]] = self._score(model, indices, byte_lengths, batch_size, device)
        finally:
            model.train(was_training)
        return out

    def _score(self, model, indices, byte_lengths, batch_size, device):
        nats, tokens, nbytes = 0.0, 0, 0
        for i in range(0, len(indices), batch_size):
            x, y = chat_rows(self.data, "val", indices[i : i + batch_size])
            nats += target_nats(model, torch.from_numpy(x), torch.from_numpy(y), device)
            targets = y[y >= 0]
            tokens, nbytes = tokens + len(targets), nbytes + int(byte_lengths[targets].sum())
        return nats, tokens, nbytes

    @torch.no_grad()
    def samples(self, model: GPT, tokenizer: Tokenizer, n_tokens: int) -> list[tuple[str, str]]:
        """(the last user message, the model's greedy reply) for a few held-out conversations."""
        device = next(model.parameters()).device
        stops = set(self.data.end_ids or reply_end_ids(tokenizer))  # older data: lmcore's
        specials = set(tokenizer.special_tokens.values())
        out = []
        model.eval()
        for i in range(min(SAMPLE_CONVERSATIONS, self.data.conversations["val"])):
            ids, mask = self.data.conversation("val", i)
            ids, mask = ids.tolist(), mask.tolist()
            start = len(mask) - 1 - mask[::-1].index(1)  # the last reply: back to its start
            while start > 0 and mask[start - 1]:
                start -= 1
            prompt = ids[:start]
            question = (self.data.questions[i] if i < len(self.data.questions) else
                        tokenizer.decode([t for t in prompt[-48:] if t not in specials]))  # fmt: skip
            idx = torch.tensor([prompt], dtype=torch.long, device=device)  # (1, T)
            new = model.generate(idx, n_tokens, 0.0)[0, len(prompt) :].tolist()
            cut = next((k for k, t in enumerate(new) if t in stops), len(new))
            out.append((question, tokenizer.decode(new[:cut])))
        model.train()
        return out
