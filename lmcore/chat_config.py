"""Where a checkpoint's chat template, end ids and generation defaults come from: the one
accessor every part of Bottega uses (lmcore, the workers, the web app; no torch).

    template_for(config, tokenizer)   the ChatTemplate a checkpoint chats with, or None
    text_end_ids(config, tokenizer)   the ids a completion ends at
    generation_defaults(config)       the model's own sampling defaults (SamplingParams fields)
    carried(config, tokenizer)        what a fine-tune of the checkpoint keeps of its config

`config` is the checkpoint's config.json as a dict. A template is found, in this order:
1. `config["chat_template"]` (lmcore/chat_template.py has the format): imports, fine-tunes;
2. a model imported before templates were kept: the template its `tokenizer_config.json` held
   (`config["hf"]`), with its special tokens and `eos_token_id`;
3. a checkpoint whose tokenizer has lmcore's chat tokens: lmcore's own layout
   (`LMCORE_TEMPLATE`), so older checkpoints chat exactly as they always did;
4. none: the model cannot chat (a base model without chat tokens).

End ids, the format's `end_ids`: `generation_config.json`'s `eos_token_id` (one or a list, else
config.json's), and the eos token's id. lmcore's layout ends a reply at `<|end|>`, and at
`<|endoftext|>` or a role token, which would start another turn. A completion ends at the
stored template's end ids; a model without one at its imported `eos_token_id`s, else at
`<|endoftext|>` (lmcore's own base models, as before).

Example: `template_for(read_config("runs/chat"), tokenizer).render(messages, True)`.
"""

from __future__ import annotations

from typing import Any

from lmcore.chat_template import LMCORE_TEMPLATE, ChatTemplate
from lmcore.config import SamplingParams
from lmcore.documents import BOS_TOKEN
from lmcore.errors import LmcoreError
from lmcore.tokenizer import Tokenizer

ROLE_TOKENS = {"system": "<|system|>", "user": "<|user|>", "assistant": "<|assistant|>"}
END_OF_TURN = "<|end|>"
CHAT_TOKENS = (BOS_TOKEN, *ROLE_TOKENS.values(), END_OF_TURN)
# generation_config.json keys that mean what a SamplingParams field means.
GENERATION_KEYS = ("temperature", "top_k", "top_p", "repetition_penalty", "max_new_tokens")


def check_chat_tokens(tokenizer: Tokenizer) -> None:
    """LmcoreError naming lmcore's chat tokens a tokenizer lacks, and how to get them."""
    missing = [t for t in CHAT_TOKENS if t not in tokenizer.special_tokens]
    if missing:
        raise LmcoreError(
            f"the tokenizer lacks the chat tokens {' '.join(missing)}: a chat model needs "
            f"{' '.join(CHAT_TOKENS)}. Train a new tokenizer with the default special tokens "
            "(they include them), train a base model with it, and fine-tune that"
        )


def lmcore_template(tokenizer: Tokenizer) -> ChatTemplate:
    """lmcore's own layout for a tokenizer with its chat tokens (else LmcoreError)."""
    check_chat_tokens(tokenizer)
    ends = [tokenizer.special_id(t) for t in (END_OF_TURN, BOS_TOKEN, *ROLE_TOKENS.values())]
    return ChatTemplate(LMCORE_TEMPLATE, bos_token=BOS_TOKEN, eos_token=BOS_TOKEN,
                        pad_token=BOS_TOKEN, end_ids=tuple(ends))  # fmt: skip


def template_for(config: dict[str, Any], tokenizer: Tokenizer) -> ChatTemplate | None:
    """The template a checkpoint chats with (module docstring), or None."""
    if config.get("chat_template") is not None:
        return _checked(ChatTemplate.from_config(config["chat_template"]), tokenizer)
    hf = config.get("hf") or {}
    source = hf_template_source(hf.get("tokenizer_config") or {})
    if source is not None:
        return from_hf(source, hf.get("tokenizer_config") or {}, {}, hf.get("token_ids") or {},
                       tokenizer)  # fmt: skip
    if all(t in tokenizer.special_tokens for t in CHAT_TOKENS):
        return lmcore_template(tokenizer)
    return None


def carries_template(config: dict[str, Any]) -> bool:
    """Whether the checkpoint carries a template of its own (stored, or kept by an older
    import) rather than falling back on lmcore's layout: a model made to chat with it."""
    hf = config.get("hf") or {}
    return config.get("chat_template") is not None or (
        hf_template_source(hf.get("tokenizer_config") or {}) is not None
    )


def hf_template_source(tokenizer_config: dict[str, Any]) -> str | None:
    """The chat template a `tokenizer_config.json` holds: a string, or the "default" of a
    list of named templates."""
    value = tokenizer_config.get("chat_template")
    if isinstance(value, list):
        named = {t.get("name"): t.get("template") for t in value if isinstance(t, dict)}
        value = named.get("default")
    return value if isinstance(value, str) and value.strip() else None


def from_hf(
    source: str,
    tokenizer_config: dict[str, Any],
    generation_config: dict[str, Any],
    model_config: dict[str, Any],
    tokenizer: Tokenizer,
) -> ChatTemplate:
    """A ChatTemplate from what a `transformers` directory holds: the template's source, the
    special tokens of tokenizer_config.json, the end ids (module docstring)."""
    tokens = {k: _token_text(tokenizer_config.get(k)) for k in ("bos_token", "eos_token",
                                                                "pad_token")}  # fmt: skip
    return _checked(ChatTemplate(source, **tokens, end_ids=tuple(
        hf_end_ids(generation_config, model_config, tokens["eos_token"], tokenizer))), tokenizer)  # fmt: skip


def hf_end_ids(
    generation_config: dict[str, Any],
    model_config: dict[str, Any],
    eos_token: str | None,
    tokenizer: Tokenizer,
) -> list[int]:
    """generation_config.json's eos_token_id (else config.json's), then the eos token's id."""
    raw = generation_config.get("eos_token_id", model_config.get("eos_token_id"))
    ids = raw if isinstance(raw, list) else [raw]
    ids = [i for i in ids if isinstance(i, int) and not isinstance(i, bool)]
    if eos_token is not None and eos_token in tokenizer.special_tokens:
        ids.append(tokenizer.special_id(eos_token))
    return [i for i in dict.fromkeys(ids) if 0 <= i < tokenizer.vocab_size]


def hf_generation_defaults(generation_config: dict[str, Any]) -> dict[str, Any]:
    """The sampling defaults a generation_config.json sets, as SamplingParams fields; an
    explicit `do_sample: false` is greedy (temperature 0). Values lmcore would refuse are
    left out rather than failing the import."""
    out = {k: generation_config[k] for k in GENERATION_KEYS if generation_config.get(k) is not None}
    if generation_config.get("do_sample") is False:
        out["temperature"] = 0.0
    kept = {}
    for key, value in out.items():
        try:
            SamplingParams.from_dict({key: value}).validate()
        except (LmcoreError, TypeError):
            continue
        kept[key] = value
    return kept


def generation_defaults(config: dict[str, Any]) -> dict[str, Any]:
    """The checkpoint's sampling defaults (SamplingParams fields); {} when it has none."""
    raw = config.get("generation_defaults") or {}
    return {k: v for k, v in raw.items() if k in GENERATION_KEYS} if isinstance(raw, dict) else {}


def text_end_ids(config: dict[str, Any], tokenizer: Tokenizer) -> list[int]:
    """The ids a completion (not a chat reply) ends at (module docstring)."""
    if config.get("chat_template") is not None:
        return list(ChatTemplate.from_config(config["chat_template"]).end_ids)
    hf = config.get("hf") or {}
    if hf:
        eos = _token_text((hf.get("tokenizer_config") or {}).get("eos_token"))
        ends = hf_end_ids(hf.get("generation_config") or {}, hf.get("token_ids") or {}, eos,
                          tokenizer)  # fmt: skip
        if ends:
            return ends
    return [tokenizer.eot_id] if tokenizer.eot_id is not None else []


def carried(config: dict[str, Any], tokenizer: Tokenizer) -> dict[str, Any]:
    """What a checkpoint trained from this one (a fine-tune) keeps of it: the template it
    was trained with (stored, whichever way it was found), the generation defaults, and an
    import's `hf` record, so an export gives back the model it came from."""
    out: dict[str, Any] = {}
    template = template_for(config, tokenizer)
    if template is not None:
        out["chat_template"] = template.to_config()
    if generation_defaults(config):
        out["generation_defaults"] = generation_defaults(config)
    if config.get("hf"):
        out["hf"] = config["hf"]
    return out


def _checked(template: ChatTemplate, tokenizer: Tokenizer) -> ChatTemplate:
    outside = [i for i in template.end_ids if i >= tokenizer.vocab_size]
    if outside:
        raise LmcoreError(f"the chat template's end ids {outside} are outside the vocabulary")
    return template


def _token_text(value: Any) -> str | None:
    """A tokenizer_config.json token: a string, or an AddedToken object with its content."""
    if isinstance(value, dict):
        value = value.get("content")
    return value if isinstance(value, str) else None
