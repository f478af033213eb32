"""The generation engine: KV-cache decoding that streams token events from a generator.

Tokenizer-agnostic: it takes token ids, a bytes table (id -> raw bytes) and the ids that end
a text, and yields `TokenEvent`s as tokens are produced, then one `DoneEvent` per stream.

    engine = Engine(ck.model, ck.tokenizer.bytes_table(), end_ids=[ck.tokenizer.eot_id])
    for event in engine.generate(ck.tokenizer.encode("Once"), SamplingParams(seed=1)):
        ...  # {"event": "token", "text": ...} ... {"event": "done", "reason": ...}

How it runs:
- Prefill: the prompt goes through the model in one pass (chunked only where the logits of
  every position would pass PREFILL_LOGITS floats), filling the KV cache; each new token
  then costs a one-token forward (see lmcore/model.py for the cache interface).
- Sliding window: when the sequence outgrows the model's context, the cache is rebuilt from
  the last `keep` tokens (default: half the context) and decoding goes on. Recomputing is
  exact (a cached key depends on all that came before it, so old entries cannot just be
  dropped); the trade-off is that right after a slide the model sees only `keep` tokens,
  which amortises one re-prefill over `context - keep` tokens instead of paying a
  full-window forward for every token as nanoGPT does.
- Batches: several requests (prompts, seeds, settings) decode in one forward. Rows share
  cache positions, so there is no padding: the batch is prefilled up to its shortest
  prompt, and a longer prompt's remaining tokens are fed (not sampled) on the first decode
  steps. Finished rows keep riding along until the whole batch ends: fine for side by side
  comparison, wasteful for serving unrelated requests.
- Cancel: `cancel()` is called before every forward; when true the engine stops at once.
- Timing: `ttft_ms` runs from the start of generation (the first `next()`) to a stream's
  first token; `tokens_per_s` counts the tokens after the first over the time after the
  first (decode speed, prefill excluded). Time the consumer spends between events counts.

`reference_generate` is the naive baseline (a full forward over the window for every token)
that the equivalence test and bench/generate.py compare against.
"""

from __future__ import annotations

import math
import secrets
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Literal, TypedDict

import torch

from lmcore.device import autocast
from lmcore.errors import LmcoreError
from lmcore.model import GPT, KVCache
from lmcore.sampling import (
    MAX_NEW_TOKENS,
    BatchSampler,
    SamplingParams,
    draw_uniforms,
    make_generator,
    sample_step,
)
from lmcore.textstream import TextStream

MAX_BATCH = 64
PREFILL_LOGITS = 1 << 25  # floats of prefill logits (128 MiB) before the prompt is chunked
Reason = Literal["max_new_tokens", "stop", "end_of_text", "cancelled"]


class TopEntry(TypedDict):
    id: int
    text: str  # the token's own bytes as UTF-8, U+FFFD where a character is cut
    logprob: float  # ln p under the model (T = 1, unfiltered)
    sample_logprob: float | None  # ln p under the sampled distribution; None = filtered out


class TokenEvent(TypedDict):
    event: Literal["token"]
    stream: int  # index of the request in the batch
    id: int
    bytes: str  # the token's raw bytes, lowercase hex ("f09f" for the first half of 😀)
    text: str  # text this token releases (UTF-8 safe, stop strings cut; may be "")
    logprob: float
    sample_logprob: float  # finite: the token was drawn from this distribution
    top: list[TopEntry]  # the top_logprobs most likely tokens under the model, best first


class DoneEvent(TypedDict):
    event: Literal["done"]
    stream: int
    reason: Reason
    tokens: int  # tokens generated (an end-of-text token counts)
    tokens_per_s: float | None  # None with fewer than two tokens
    ttft_ms: float | None  # None when no token was produced
    seed: int  # the seed used (chosen at random when the request gave none)
    text: str  # text still held back when cancelled, else ""


Event = TokenEvent | DoneEvent
WIRE_TOKEN_FIELDS = ("id", "bytes", "text", "logprob", "sample_logprob", "top")


def wire_token(event: TokenEvent) -> dict:
    """The token object of the CLI and the websocket protocol (docs/architecture.md)."""
    return {k: event[k] for k in WIRE_TOKEN_FIELDS}


def window_start(start: int, n: int, context: int, keep: int) -> int:
    """Where the model's view of an n-token sequence begins, given where it began before.

    Example: `window_start(0, 9, context=8, keep=4) == 5` (slide), then 5 until n passes 13.
    """
    return start if n - start <= context else n - keep


@dataclass
class Request:
    prompt: list[int]
    params: SamplingParams = field(default_factory=SamplingParams)


@dataclass(eq=False)  # identity: streams are looked up with `in`
class _Stream:
    index: int
    prompt: list[int]
    params: SamplingParams
    seed: int
    generator: torch.Generator | None  # None when greedy: no randomness consumed
    text: TextStream
    started: float = 0.0  # perf_counter() when generation began
    first_at: float | None = None  # perf_counter() at the first token
    produced: int = 0
    done: bool = False


class Engine:
    """Streams generations from one model; holds no per-request state, so one engine can
    serve requests one after another (not concurrently: the model is shared)."""

    def __init__(
        self,
        model: GPT,
        bytes_table: Sequence[bytes],
        *,
        end_ids: Iterable[int | None] = (),
        bos_id: int | None = None,
        keep: int | None = None,
        max_new_tokens_cap: int = MAX_NEW_TOKENS,
    ) -> None:
        self.model = model.eval()  # dropout off: generation must not depend on the mode
        self.context = model.config.context
        if len(bytes_table) != model.config.vocab_size:
            raise LmcoreError(
                f"tokenizer has {len(bytes_table)} tokens but the model "
                f"{model.config.vocab_size}: they do not belong together"
            )
        self.bytes_table = bytes_table
        self.end_ids = {i for i in end_ids if i is not None}
        self.bos_id = bos_id
        self.keep = keep or max(self.context // 2, 1)
        if not 0 < self.keep <= self.context:
            raise ValueError(f"keep {self.keep} must be in 1..{self.context}")
        self.cap = max_new_tokens_cap
        self.device = next(model.parameters()).device

    def generate(
        self, prompt: list[int], params: SamplingParams, cancel: Callable[[], bool] | None = None
    ) -> Iterator[Event]:
        """Events of one generation; raises LmcoreError now (not at the first event) on bad
        input."""
        return self.generate_batch([Request(prompt, params)], cancel)

    def generate_batch(
        self, requests: Sequence[Request], cancel: Callable[[], bool] | None = None
    ) -> Iterator[Event]:
        """Events of several generations decoded together; `stream` tells them apart."""
        if not 1 <= len(requests) <= MAX_BATCH:
            raise LmcoreError(f"a batch holds 1 to {MAX_BATCH} requests, not {len(requests)}")
        streams = [self._open(i, r) for i, r in enumerate(requests)]
        return self._run(streams, cancel or (lambda: False))

    def _open(self, index: int, request: Request) -> _Stream:
        params = request.params
        params.validate(self.cap)
        prompt = list(request.prompt)
        if not prompt:
            if self.bos_id is None:
                raise LmcoreError(
                    "empty prompt: this model has no beginning-of-text token to start from; "
                    "give it at least one character"
                )
            prompt = [self.bos_id]
        if min(prompt) < 0 or max(prompt) >= len(self.bytes_table):
            raise LmcoreError(
                f"prompt holds ids outside the vocabulary 0..{len(self.bytes_table) - 1}"
            )
        seed = secrets.randbits(63) if params.seed is None else params.seed
        generator = make_generator(seed) if params.temperature > 0 else None
        return _Stream(index, prompt, params, seed, generator, TextStream(params.stop))

    @torch.inference_mode()
    def _run(self, streams: list[_Stream], cancel: Callable[[], bool]) -> Iterator[Event]:
        """The main loop: prefill, then per step sample -> emit -> check cancel -> forward.

        `buf` (B, W) holds every row's tokens; position n is the next to fill, and the cache
        holds buf[:, start:n-1] between steps (all of buf[:, start:n] right after a prefill).
        """
        dev, B, started = self.device, len(streams), time.perf_counter()
        for s in streams:
            s.started = started
        lengths = torch.tensor([len(s.prompt) for s in streams], device=dev)  # (B,)
        width = max(len(s.prompt) + s.params.max_new_tokens for s in streams)
        buf = torch.zeros(B, width, dtype=torch.long)
        for b, s in enumerate(streams):
            buf[b, : len(s.prompt)] = torch.tensor(s.prompt)
        buf = buf.to(dev)  # (B, W)
        sampler = BatchSampler.for_params([s.params for s in streams], dev)
        top_n = max(s.params.top_logprobs for s in streams)
        n = min(len(s.prompt) for s in streams)
        seen = None
        if sampler.needs_penalty:  # (B, V): tokens already in each row, for the penalty
            seen = torch.zeros(B, self.model.config.vocab_size, dtype=torch.bool, device=dev)
            seen.scatter_(1, buf[:, :n], True)
        cache = KVCache.for_model(self.model, batch_size=B)
        start = window_start(0, n, self.context, self.keep)
        if cancel():
            yield from self._cancel_all(streams)
            return
        logits = self._prefill(buf[:, start:n], cache)  # (B, V)
        while True:
            sampling = [s for s in streams if not s.done and n >= len(s.prompt)]
            uniforms = draw_uniforms([s.generator if s in sampling else None for s in streams], dev)
            step = sample_step(logits, sampler, uniforms, seen, top_n)
            nxt = torch.where(n < lengths, buf[:, n], step.ids)  # (B,) prompt tokens win
            buf[:, n] = nxt
            if seen is not None:
                seen.scatter_(1, nxt[:, None], True)
            n += 1
            ids, floats = step.to_host()
            now = time.perf_counter()
            for s in sampling:
                yield from self._emit(s, ids[s.index], floats[s.index], now)
            if all(s.done for s in streams):
                return
            if cancel():
                yield from self._cancel_all(streams)
                return
            new_start = window_start(start, n, self.context, self.keep)
            if new_start != start:  # outgrew the context: rebuild the cache from the window
                start = new_start
                cache.reset()
                logits = self._prefill(buf[:, start:n], cache)
            else:
                logits = self._forward(buf[:, n - 1 : n], cache)

    def _forward(self, idx: torch.Tensor, cache: KVCache | None) -> torch.Tensor:
        """Logits (B, V) at the last position of idx (B, T)."""
        with autocast(self.device):
            logits, _ = self.model(idx, kv_cache=cache)  # (B, T, V)
        return logits[:, -1, :]

    def _prefill(self, idx: torch.Tensor, cache: KVCache) -> torch.Tensor:
        """Feed idx (B, T) into an empty cache; logits (B, V) at its last position."""
        B, T = idx.shape
        chunk = max(1, PREFILL_LOGITS // (B * self.model.config.vocab_size))
        for lo in range(0, T, chunk):
            logits = self._forward(idx[:, lo : lo + chunk], cache)
        return logits

    def _emit(self, s: _Stream, ids: list[int], floats: list[float], now: float) -> list[Event]:
        """The token event for stream s (and its done event if this token ends it)."""
        token_id, k = ids[0], s.params.top_logprobs
        s.produced += 1
        s.first_at = s.first_at or now
        ended = token_id in self.end_ids
        piece = self.bytes_table[token_id]
        # An end-of-text token's bytes are a marker, not text: it only flushes what is held.
        text = s.text.flush() if ended else s.text.push(piece)
        reason: Reason | None = "end_of_text" if ended else "stop" if s.text.stopped else None
        if reason is None and s.produced >= s.params.max_new_tokens:
            reason, text = "max_new_tokens", text + s.text.flush()
        n_top = len(ids) - 1  # floats: logprob, sample_logprob, n_top logprobs, n_top sample
        top = [self._top_entry(ids[1 + j], floats[2 + j], floats[2 + n_top + j]) for j in range(k)]
        event: TokenEvent = {
            "event": "token", "stream": s.index, "id": token_id, "bytes": piece.hex(),
            "text": text, "logprob": floats[0], "sample_logprob": floats[1], "top": top,
        }  # fmt: skip
        if reason is None:
            return [event]
        s.done = True
        return [event, self._done(s, reason, now)]

    def _top_entry(self, token_id: int, logprob: float, sample_logprob: float) -> TopEntry:
        text = self.bytes_table[token_id].decode("utf-8", errors="replace")
        sample = sample_logprob if math.isfinite(sample_logprob) else None
        return {"id": token_id, "text": text, "logprob": logprob, "sample_logprob": sample}

    def _done(self, s: _Stream, reason: Reason, now: float, text: str = "") -> DoneEvent:
        rate = ttft = None
        if s.first_at is not None:
            ttft = (s.first_at - s.started) * 1000
            if s.produced > 1 and now > s.first_at:
                rate = (s.produced - 1) / (now - s.first_at)
        return {
            "event": "done", "stream": s.index, "reason": reason, "tokens": s.produced,
            "tokens_per_s": rate, "ttft_ms": ttft, "seed": s.seed, "text": text,
        }  # fmt: skip

    def _cancel_all(self, streams: list[_Stream]) -> Iterator[DoneEvent]:
        now = time.perf_counter()
        for s in streams:
            if not s.done:
                s.done = True
                yield self._done(s, "cancelled", now, s.text.flush())


@dataclass
class ReferenceStep:
    id: int
    logprobs: torch.Tensor  # (V,) ln p under the model at this step, on the CPU


@torch.inference_mode()
def reference_generate(
    model: GPT,
    prompt: list[int],
    params: SamplingParams,
    *,
    keep: int | None = None,
    end_ids: Iterable[int] = (),
) -> list[ReferenceStep]:
    """The naive generator: a full forward over the window for every new token (nanoGPT's
    `generate`), with the engine's sampler and window policy, so its tokens must match."""
    model.eval()
    context, device = model.config.context, next(model.parameters()).device
    keep = keep or max(context // 2, 1)
    tokens, start, end_ids = list(prompt), 0, set(end_ids)
    sampler = BatchSampler.for_params([params], device)
    generator = make_generator(params.seed or 0) if params.temperature > 0 else None
    seen = torch.zeros(1, model.config.vocab_size, dtype=torch.bool, device=device)
    seen[0, tokens] = True
    steps: list[ReferenceStep] = []
    for _ in range(params.max_new_tokens):
        start = window_start(start, len(tokens), context, keep)
        idx = torch.tensor([tokens[start:]], device=device)  # (1, T): the whole window again
        with autocast(device):
            logits = model(idx)[0][:, -1, :]  # (1, V)
        step = sample_step(logits, sampler, draw_uniforms([generator], device), seen)
        token = int(step.ids.item())
        tokens.append(token)
        seen[0, token] = True
        steps.append(ReferenceStep(token, torch.log_softmax(logits, dim=-1)[0].cpu()))
        if token in end_ids:
            break
    return steps
