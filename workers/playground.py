"""Tasks of the playground on the `gpu_infer` queue: generate (one or two versions side by side)
and score. Each writes its request's token stream (workers/tokenstream.py); the websocket
consumer tails it.

The `gpu_infer` worker is long-lived and threaded, so loaded checkpoints are cached in this
process by version id (an LRU of `PLAYGROUND_MODEL_CACHE`); a request for a cached model
starts decoding at once. The model is shared by concurrent requests: its forward keeps no
state outside the per-request KV cache, and each request builds its own (cheap) Engine.
Sampling settings were validated by the consumer; they are checked again here (cheap) before
any model is loaded, as every caller of lmcore does.
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from celery import shared_task
from django.conf import settings

from lmcore.errors import LmcoreError
from workers.tokenstream import StreamWriter

logger = logging.getLogger(__name__)

_cache: OrderedDict[int, Loaded] = OrderedDict()
_cache_lock = threading.Lock()
_device: Any = None


@dataclass
class Loaded:
    version_id: int
    label: str
    model: Any  # lmcore.model.GPT, in eval mode on the inference device
    tokenizer: Any  # lmcore.tokenizer.Tokenizer
    bytes_table: list[bytes]
    bos_id: int | None


@shared_task(name="workers.playground.generate_text")  # routed to gpu_infer (settings)
def generate_text(
    user_id: int, request_id: str, version_ids: list[int], prompt: str, params: dict[str, Any],
    prefix_ids: list[int] | None = None, chat: list[dict[str, str]] | None = None,
) -> None:  # fmt: skip
    with StreamWriter(user_id, request_id) as out:
        out.add("start", {"streams": len(version_ids)})
        _guard(
            out, request_id, lambda: _generate(out, version_ids, prompt, params, prefix_ids, chat)
        )


@shared_task(name="workers.playground.score_text")  # routed to gpu_infer (settings)
def score_text(
    user_id: int, request_id: str, version_id: int, text: str, top_logprobs: int = 0
) -> None:
    with StreamWriter(user_id, request_id) as out:
        out.add("start", {"streams": 1})
        score = lambda: _score(version_id, text, top_logprobs)  # noqa: E731
        _say_loading(out, [version_id])
        _guard(out, request_id, lambda: out.add("score", score(), final=True))


def _guard(out: StreamWriter, request_id: str, work: Any) -> None:
    """Run `work`; a known failure becomes an `error` entry naming it, anything else too."""
    try:
        work()
    except LmcoreError as exc:  # the request cannot be served as asked (code: "invalid")
        out.add("error", {"message": str(exc), "code": "invalid"}, final=True)
    except Exception as exc:
        logger.exception("playground request %s failed", request_id)
        message = f"internal error ({type(exc).__name__}); see the worker log"
        out.add("error", {"message": message, "code": "internal"}, final=True)


def _generate(
    out: StreamWriter, version_ids: list[int], prompt: str, params: dict[str, Any],
    prefix_ids: list[int] | None, chat: list[dict[str, str]] | None,
) -> None:  # fmt: skip
    from lmcore.engine import Engine, wire_token
    from lmcore.sampling import SamplingParams

    sampling = SamplingParams.from_dict(params)  # before loading: a bad setting fails fast
    sampling.validate(settings.PLAYGROUND_MAX_NEW_TOKENS)
    if out.cancelled(every_s=0):  # withdrawn (e.g. no worker in time) before we got here
        for stream in range(len(version_ids)):
            done = {"stream": stream, "reason": "cancelled", "stats": {}, "text": ""}
            out.add("done", done, final=stream == len(version_ids) - 1)
        return
    _say_loading(out, version_ids)
    runs, prompt_tokens = [], []
    for loaded in (load_model(v) for v in version_ids):
        ids, end_ids = _prompt_ids(loaded, prompt, prefix_ids or [], chat)
        engine = Engine(
            loaded.model, loaded.bytes_table, end_ids=end_ids, bos_id=loaded.bos_id,
            max_new_tokens_cap=settings.PLAYGROUND_MAX_NEW_TOKENS,
        )  # fmt: skip
        # Same settings (seed included) for each version: that is the point of side by side.
        prompt_tokens.append(len(ids))
        runs.append(engine.generate(ids, SamplingParams.from_dict(params), cancel=out.cancelled))
    finished = 0
    for stream, event in _interleave(runs):
        if event["event"] == "token":
            out.token(stream, wire_token(event))
        else:
            finished += 1
            stats = {k: event[k] for k in ("tokens", "ttft_ms", "tokens_per_s", "seed")}
            stats["prompt_tokens"] = prompt_tokens[stream]
            out.add("done", {"stream": stream, "reason": event["reason"], "stats": stats,
                             "text": event["text"]}, final=finished == len(runs))  # fmt: skip


def _say_loading(out: StreamWriter, version_ids: list[int]) -> None:
    """A model not in the cache takes a second or two to load: tell the page, then load it."""
    if any(v not in _cache for v in version_ids):
        out.add("loading", {})


def _interleave(runs: list[Iterator[dict]]) -> Iterator[tuple[int, dict]]:
    """Events of several generators, one step of each in turn: both columns grow together."""
    alive = dict(enumerate(runs))
    while alive:
        for index, run in list(alive.items()):
            try:
                yield index, next(run)
            except StopIteration:
                del alive[index]


def _prompt_ids(
    loaded: Loaded, prompt: str, prefix_ids: list[int], chat: list[dict[str, str]] | None
) -> tuple[list[int], list[int | None]]:
    """Prompt ids and end ids. User text is encoded (never specials); only lmcore's chat
    template inserts role tokens, and `prefix_ids` (a branch: tokens already shown, then the
    one the user picked) may hold no special token. A completion starts with the model's
    beginning-of-text token when it has one (lmcore/documents.py)."""
    from lmcore.chat import render, reply_end_ids

    tok = loaded.tokenizer
    specials = set(tok.special_tokens.values())
    if any(not isinstance(i, int) or i in specials for i in prefix_ids):
        raise LmcoreError("prefix_ids must be ordinary token ids, never special tokens")
    if chat is None:
        bos = [loaded.bos_id] if loaded.bos_id is not None else []
        return bos + tok.encode(prompt) + prefix_ids, [tok.eot_id]
    rendered = render(tok, chat, generation_prompt=True)
    return rendered.ids + prefix_ids, reply_end_ids(tok)


def _score(version_id: int, text: str, top_logprobs: int = 0) -> dict[str, Any]:
    from lmcore.score import score

    loaded = load_model(version_id)
    result = score(loaded.model, loaded.bytes_table, loaded.tokenizer.encode(text),
                   loaded.bos_id, top_logprobs)  # fmt: skip
    for token in result["tokens"]:
        token["loss"] = None if token["logprob"] is None else -token["logprob"]
    return dict(result)


def load_model(version_id: int) -> Loaded:
    """The cached model of a version, loading it (and evicting the least recently used)."""
    with _cache_lock:  # one load at a time: two requests for a new model load it once
        hit = _cache.get(version_id)
        if hit is not None:
            _cache.move_to_end(version_id)
            return hit
        loaded = _load(version_id)
        _cache[version_id] = loaded
        while len(_cache) > settings.PLAYGROUND_MODEL_CACHE:
            _cache.popitem(last=False)
        return loaded


def _load(version_id: int) -> Loaded:
    from lmcore.checkpoint import load_checkpoint
    from lmcore.documents import bos_id_for
    from webapp.registry.models import ModelVersion

    version = ModelVersion.objects.filter(pk=version_id).first()
    if version is None:
        raise LmcoreError(f"model version {version_id} no longer exists")
    try:
        ck = load_checkpoint(version.directory, _inference_device())
    except LmcoreError as exc:
        raise LmcoreError(f"{version}: the model cannot be loaded ({exc})") from exc
    tok = ck.tokenizer
    return Loaded(version_id, str(version), ck.model, tok, tok.bytes_table(),
                  bos_id_for(ck.train_config, tok.special_tokens))  # fmt: skip


def _inference_device() -> Any:
    global _device
    if _device is None:
        import torch

        from lmcore.device import configure, resolve_device

        if settings.PLAYGROUND_TORCH_THREADS > 0:
            torch.set_num_threads(settings.PLAYGROUND_TORCH_THREADS)
        _device = resolve_device(settings.PLAYGROUND_DEVICE)
        configure(_device)
    return _device


def clear_cache() -> None:
    """Forget every loaded model (tests; a deleted version's files)."""
    with _cache_lock:
        _cache.clear()
