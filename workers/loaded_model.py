"""A model version as the `gpu_infer` worker holds it (`Loaded`: weights on the inference
device, tokenizer, chat template, end ids), how it is loaded, and the prompt ids of a stream
for it. The inference loops (workers/inference.py) keep these in their LRU."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings

from lmcore.errors import LmcoreError


@dataclass
class Loaded:
    version_id: int
    label: str
    model: Any  # lmcore.model.GPT, in eval mode on the inference device
    tokenizer: Any  # lmcore.tokenizer.Tokenizer
    bytes_table: list[bytes]
    bos_id: int | None
    template: Any = None  # lmcore.chat_template.ChatTemplate: None, the model cannot chat
    end_ids: list[int] = field(default_factory=list)  # where a completion ends (chat_config.py)


_device: Any = None
_device_lock = threading.Lock()


def inference_device() -> Any:
    global _device
    with _device_lock:
        if _device is None:
            import torch

            from lmcore.device import configure, resolve_device

            if settings.PLAYGROUND_TORCH_THREADS > 0:
                torch.set_num_threads(settings.PLAYGROUND_TORCH_THREADS)
            _device = resolve_device(settings.PLAYGROUND_DEVICE)
            configure(_device)
        return _device


def load_version(version_id: int) -> Any:
    from webapp.registry.models import ModelVersion

    version = ModelVersion.objects.filter(pk=version_id).first()
    if version is None:
        raise LmcoreError(f"model version {version_id} no longer exists")
    return version


def load(version: Any, device: Any) -> Loaded:
    from lmcore.chat_config import template_for, text_end_ids
    from lmcore.checkpoint import load_checkpoint
    from lmcore.documents import bos_id_for

    try:
        ck = load_checkpoint(version.directory, device)
        tok = ck.tokenizer
        template, end_ids = template_for(ck.config, tok), text_end_ids(ck.config, tok)
    except LmcoreError as exc:
        raise LmcoreError(f"{version}: the model cannot be loaded ({exc})") from exc
    return Loaded(version.pk, str(version), ck.model, tok, tok.bytes_table(),
                  bos_id_for(ck.train_config, tok.special_tokens), template, end_ids)  # fmt: skip


def prompt_ids(
    loaded: Loaded, prompt: str, prefix_ids: list[int], chat: list[dict[str, str]] | None
) -> tuple[list[int], list[int | None]]:
    """Prompt ids and end ids: the model's own (lmcore/chat_config.py). User text is encoded
    (never specials); only the version's chat template inserts them (lmcore/chat.py), and
    `prefix_ids` (a branch: tokens already shown, then the one the user picked) may hold no
    special token. A completion starts with the model's beginning-of-text token when it has
    one (lmcore/documents.py)."""
    from lmcore.chat import reply_prompt

    tok = loaded.tokenizer
    specials = set(tok.special_tokens.values())
    if any(not isinstance(i, int) or i in specials for i in prefix_ids):
        raise LmcoreError("prefix_ids must be ordinary token ids, never special tokens")
    if chat is None:
        bos = [loaded.bos_id] if loaded.bos_id is not None else []
        return bos + tok.encode(prompt) + prefix_ids, list(loaded.end_ids)
    if loaded.template is None:
        raise LmcoreError(f"{loaded.label} has no chat template: use a completion")
    # Fitted to the context if asked (chatfit.py), else refused when it fills it, never cut.
    context = loaded.model.config.context - len(prefix_ids)
    ids = reply_prompt(tok, chat, context, loaded.template)
    return ids + prefix_ids, list(loaded.template.end_ids)
