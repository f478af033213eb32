"""The generation engine: KV-cache decoding that streams token events from a generator.

Tokenizer-agnostic: it takes token ids, a bytes table (id -> raw bytes) and the ids that end
a text, and yields `TokenEvent`s as tokens are produced, then one `DoneEvent` per stream.

    ends = text_end_ids(ck.config, ck.tokenizer)  # the model's own (lmcore/chat_config.py)
    engine = Engine(ck.model, ck.tokenizer.bytes_table(), end_ids=ends)
    for event in engine.generate(ck.tokenizer.encode("Once"), SamplingParams(seed=1)):
        ...  # {"event": "token", "text": ...} ... {"event": "done", "reason": ...}

The engine drives a private `lmcore.scheduler.Scheduler` with one slot per request until
every request has ended, so the CLI, side by side and the worker's continuous batching run
the same code and give the same tokens. How it runs (details in lmcore/scheduler.py):
- Prefill: the prompt but its last token goes through the model in chunks with no output
  layer, filling the KV cache; the last prompt token and every new token then cost one
  batched one-token forward (see lmcore/kvcache.py for the cache interface).
- Sliding window: a prompt longer than the context keeps its end, as much as fits with room
  for the answer; when the sequence outgrows the context, the cache is rebuilt from the last
  `keep` tokens (default: half the context) and decoding goes on. Recomputing is exact (a
  cached key depends on all that came before it, so old entries cannot just be dropped);
  the trade-off is that right after a slide the model sees only `keep` tokens, which
  amortises one re-prefill over `context - keep` tokens instead of paying a full-window
  forward for every token as nanoGPT does.
- Batches: several requests (prompts, seeds, settings) decode in one forward, each row at
  its own position; a finished row leaves the batch.
- Cancel: `cancel()` is called before every step; when true every stream ends at once.
- Timing: `ttft_ms` runs from the call to a stream's first token; `tokens_per_s` counts the
  tokens after the first over the time after the first (decode speed, prefill excluded).
  Time the consumer spends between events counts.

`reference_generate` is the naive baseline (a full forward over the window for every token)
that the equivalence test and bench/generate.py compare against.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field

import torch

from lmcore.device import autocast
from lmcore.errors import LmcoreError
from lmcore.model import GPT
from lmcore.sampling import (
    MAX_NEW_TOKENS,
    BatchSampler,
    SamplingParams,
    draw_uniforms,
    make_generator,
    sample_step,
)
from lmcore.scheduler import (  # noqa: F401  (re-exported: the event types callers import)
    DoneEvent,
    Event,
    Reason,
    Scheduler,
    SchedulerConfig,
    TokenEvent,
    TopEntry,
    prompt_start,
    window_start,
)

MAX_BATCH = 64
WIRE_TOKEN_FIELDS = ("id", "bytes", "text", "logprob", "sample_logprob", "top")


def wire_token(event: TokenEvent) -> dict:
    """The token object of the CLI and the websocket protocol (docs/architecture.md)."""
    return {k: event[k] for k in WIRE_TOKEN_FIELDS}


@dataclass
class Request:
    prompt: list[int]
    params: SamplingParams = field(default_factory=SamplingParams)


class Engine:
    """Streams generations from one model; holds no per-request state, so one engine can
    serve requests one after another (not concurrently: the worker uses a Scheduler)."""

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
        self.model, self.bytes_table, self.end_ids = model, bytes_table, list(end_ids)
        self.options = {"bos_id": bos_id, "max_new_tokens_cap": max_new_tokens_cap}
        self.keep = keep
        # Fail now, not at the first request, on a mismatched tokenizer or a bad keep.
        Scheduler(model, bytes_table, SchedulerConfig(max_batch=1, keep=keep), **self.options)

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
        config = SchedulerConfig(max_batch=len(requests), keep=self.keep)
        scheduler = Scheduler(self.model, self.bytes_table, config, **self.options)
        ids = [scheduler.submit(r.prompt, r.params, stream=i, end_ids=self.end_ids)
               for i, r in enumerate(requests)]  # fmt: skip
        return self._run(scheduler, ids, cancel or (lambda: False))

    @staticmethod
    def _run(scheduler: Scheduler, ids: list[int], cancel: Callable[[], bool]) -> Iterator[Event]:
        while not scheduler.idle:
            if cancel():
                for request_id in ids:
                    scheduler.cancel(request_id)
            for _, event in scheduler.step():
                yield event


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
    start = prompt_start(len(prompt), params.max_new_tokens, context, keep)
    tokens, end_ids = list(prompt), set(end_ids)
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
