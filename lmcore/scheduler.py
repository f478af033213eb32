"""Continuous batching: one loop per loaded model decodes every active generation together.

The driver (the `gpu_infer` worker's loop for a model, or `Engine` for the CLI) submits
requests at any time and calls `step()` while anything is left. Each step

1. ends cancelled requests (a `done` event, reason "cancelled"): their slot is free at once;
2. admits waiting requests into free slots, first come first served, and tells each request
   still waiting its place in the queue (a `queued` event whenever it changes);
3. prefills: feeds admitted prompts into their slots in chunks of at most `prefill_chunk`
   tokens, with no output layer, in one forward for as many requests as fit in
   `prefill_chunk` tokens (shorter chunks padded at the end), so a long prompt delays the
   others' next token by one chunk, not by the whole prompt, and 32 short prompts that
   arrive together cost one forward, not 32;
4. decodes: one forward over every slot whose request has exactly one token left to feed
   (the prompt's last, or the token just sampled), then samples each row with its own
   settings and random generator and emits the token events (`done` when one ends).

Memory is bounded: the KV cache (lmcore/slotcache.py) holds `max_batch` slots of at most
`context` positions each, grown as the longest sequence needs (`slot_bytes` is one full
slot's size, which the worker counts against its memory budget). Requests beyond it wait
in order.

Same answers: a request's tokens do not depend on what else runs. Its prompt is cut into the
same chunks alone or not (chunks start from its own first token), rows of a forward never
mix (attention masks each row to its own positions), and sampling draws from the request's
own generator (lmcore/sampling.py). What can differ is rounding: matrix kernels sum in a
different order for a different batch width, so a logprob moves by ~1e-6 (measured on the
small shape), which changes a token only at a near-exact tie. tests/lmcore/test_scheduler.py
checks that 32 mixed requests give, token for token, what each gives alone. Free and
mid-prefill slots below the highest decoding one ride along with a dummy token whose
output is discarded (its key lands at the slot's next position, which the slot's next real
token overwrites): simpler than compacting the batch, at the cost of some wasted rows after
requests leave from the middle.

Windows: a prompt longer than the context keeps its last tokens, as many as fit with room
for the answer (`prompt_start`); a sequence that outgrows the context slides: its slot is
refilled from its last `keep` tokens (lmcore/engine.py explains the trade-off).
"""

from __future__ import annotations

import itertools
import math
import secrets
import time
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal, TypedDict

import torch

from lmcore.device import autocast
from lmcore.errors import LmcoreError
from lmcore.model import GPT
from lmcore.sampling import (
    MAX_NEW_TOKENS,
    MAX_SEED,
    BatchSampler,
    SamplingParams,
    draw_uniforms,
    make_generator,
    sample_step,
)
from lmcore.slotcache import SlotCache
from lmcore.textstream import TextStream

Reason = Literal["max_new_tokens", "stop", "end_of_text", "cancelled"]


class TopEntry(TypedDict):
    id: int
    bytes: str  # the token's raw bytes, lowercase hex (from the tokenizer's bytes table)
    text: str  # the token's own bytes as UTF-8, U+FFFD where a character is cut
    logprob: float  # ln p under the model (T = 1, unfiltered)
    sample_logprob: float | None  # ln p under the sampled distribution; None = filtered out


class TokenEvent(TypedDict):
    event: Literal["token"]
    stream: int  # the caller's index for the request (side by side: 0 and 1)
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
    ttft_ms: float | None  # from submit to the first token; None when none was produced
    seed: int  # the seed used (chosen at random when the request gave none)
    text: str  # text still held back when cancelled, else ""


class QueuedEvent(TypedDict):
    event: Literal["queued"]
    stream: int
    position: int  # 1: the next request to get a slot


Event = TokenEvent | DoneEvent | QueuedEvent


def window_start(start: int, n: int, context: int, keep: int) -> int:
    """Where the model's view of an n-token sequence begins, given where it began before.

    Example: `window_start(0, 9, context=8, keep=4) == 5` (slide), then 5 until n passes 13.
    """
    return start if n - start <= context else n - keep


def prompt_start(n: int, max_new_tokens: int, context: int, keep: int) -> int:
    """Where the view of an n-token prompt begins: its last tokens, as many as fit with room
    for the answer (room for at most `context - keep` answer tokens: a longer one slides).

    Example: `prompt_start(300, 16, context=256, keep=128) == 59`: 241 prompt tokens, then
    15 answer tokens fed back, and the 16th is sampled at the context's last position.
    """
    room = min(max_new_tokens - 1, context - keep)
    return max(0, n - (context - room))


@dataclass
class SchedulerConfig:
    max_batch: int = 32  # slots: requests decoded together; more wait in order
    prefill_chunk: int = 256  # prompt tokens per prefill forward, and per step
    keep: int | None = None  # tokens kept when a sequence slides; None: half the context

    def __post_init__(self) -> None:
        if self.max_batch < 1 or self.prefill_chunk < 1:
            raise LmcoreError("max_batch and prefill_chunk must be at least 1")


@dataclass(eq=False)
class _Sequence:
    id: int
    stream: int
    params: SamplingParams
    seed: int
    generator: torch.Generator | None  # None when greedy: no randomness consumed
    text: TextStream
    end_ids: frozenset[int]
    tokens: list[int]  # the whole prompt, then every sampled token
    start: int  # the model's view begins at tokens[start]
    submitted: float  # perf_counter() at submit
    fed: int = 0  # tokens of the view already in the slot's cache
    slot: int | None = None
    produced: int = 0
    first_at: float | None = None
    position: int | None = None  # queue position last reported
    cancelled: bool = False

    @property
    def pending(self) -> int:
        """Tokens of the view not yet fed: more than 1 = prefill, 1 = decode."""
        return len(self.tokens) - self.start - self.fed


class Scheduler:
    """Serves many generations from one model; not thread-safe: one loop drives it."""

    def __init__(
        self,
        model: GPT,
        bytes_table: Sequence[bytes],
        config: SchedulerConfig | None = None,
        *,
        bos_id: int | None = None,
        max_new_tokens_cap: int = MAX_NEW_TOKENS,
    ) -> None:
        self.model = model.eval()  # dropout off: generation must not depend on the mode
        self.config = config or SchedulerConfig()
        cfg = model.config
        if len(bytes_table) != cfg.vocab_size:
            raise LmcoreError(
                f"tokenizer has {len(bytes_table)} tokens but the model "
                f"{cfg.vocab_size}: they do not belong together"
            )
        self.bytes_table, self.bos_id, self.cap = bytes_table, bos_id, max_new_tokens_cap
        self.context, self.device = cfg.context, next(model.parameters()).device
        self.keep = self.config.keep or max(self.context // 2, 1)
        if not 0 < self.keep <= self.context:
            raise ValueError(f"keep {self.keep} must be in 1..{self.context}")
        self.cache = SlotCache(cfg.n_layer, self.config.max_batch, self.context)
        slots = (self.config.max_batch, cfg.vocab_size)
        self.seen = torch.zeros(slots, dtype=torch.bool, device=self.device)  # for the penalty
        self.waiting: deque[_Sequence] = deque()
        self.running: dict[int, _Sequence] = {}  # by id, in admission order
        self._ids = itertools.count()
        self.peak_batch = 0  # the most requests one decode forward served (a statistic)

    @property
    def idle(self) -> bool:
        return not self.waiting and not self.running

    def submit(
        self, prompt: list[int], params: SamplingParams, *, stream: int = 0,
        end_ids: Iterable[int | None] = (),
    ) -> int:  # fmt: skip
        """Queue a generation; its id tags its events. Raises LmcoreError on bad input."""
        params.validate(self.cap)
        prompt = list(prompt)
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
        seed = secrets.randbelow(MAX_SEED + 1) if params.seed is None else params.seed
        generator = make_generator(seed) if params.temperature > 0 else None
        start = prompt_start(len(prompt), params.max_new_tokens, self.context, self.keep)
        # Without stop_at_end_of_text an end token is shown as its marker and decoding goes on.
        ends = frozenset(i for i in end_ids if i is not None and params.stop_at_end_of_text)
        seq = _Sequence(next(self._ids), stream, params, seed, generator, TextStream(params.stop),
                        ends, prompt, start, time.perf_counter())  # fmt: skip
        self.waiting.append(seq)
        return seq.id

    def cancel(self, request_id: int) -> None:
        """End a request at the next step (before any compute for it); unknown ids: nothing."""
        for seq in itertools.chain(self.waiting, self.running.values()):
            if seq.id == request_id:
                seq.cancelled = True

    @torch.inference_mode()
    def step(self) -> list[tuple[int, Event]]:
        """One round: cancel, admit, prefill, decode. Events as (request id, event)."""
        out: list[tuple[int, Event]] = []
        for seq in [s for s in itertools.chain(self.waiting, self.running.values()) if s.cancelled]:
            self._finish(seq, out, "cancelled", time.perf_counter(), seq.text.flush())
        self._admit(out)
        self._prefill()
        self._decode(out)
        return out

    def _admit(self, out: list[tuple[int, Event]]) -> None:
        taken = {s.slot for s in self.running.values()}
        free = [slot for slot in range(self.config.max_batch) if slot not in taken]
        while self.waiting and free:
            seq = self.waiting.popleft()
            seq.slot, seq.fed = free.pop(0), 0  # the lowest free slot keeps the batch short
            self.running[seq.id] = seq
            self.seen[seq.slot] = False
            self.seen[seq.slot, seq.tokens] = True  # the penalty counts the whole prompt
        for position, seq in enumerate(self.waiting, 1):
            if seq.position != position:
                seq.position = position
                out.append(
                    (seq.id, {"event": "queued", "stream": seq.stream, "position": position})
                )

    def _prefill(self) -> None:
        """Feed the next chunk of each prompt (all but its last token), in admission order,
        as many as fit in one forward of at most `prefill_chunk` padded tokens."""
        budget, group, width = self.config.prefill_chunk, [], 0
        for seq in self.running.values():
            if seq.pending <= 1:
                continue
            n = min(budget, seq.pending - 1)  # a request's chunks depend on it alone
            wider = max(width, n)
            if group and (len(group) + 1) * wider > budget:
                break
            if (
                any(s.fed + wider > self.context for s, _ in group)
                or seq.fed + wider > self.context
            ):
                continue  # padding would pass the context: this one goes in a later step
            group.append((seq, n))
            width = wider
        if not group:
            return
        rows = []
        for seq, n in group:
            lo = seq.start + seq.fed
            rows.append(seq.tokens[lo : lo + n] + [0] * (width - n))  # padded at the end
        idx = torch.tensor(rows, device=self.device)  # (B, width)
        self._forward([s.slot for s, _ in group], [s.fed for s, _ in group], idx, logits_to_keep=0)
        for seq, n in group:
            seq.fed += n

    def _decode(self, out: list[tuple[int, Event]]) -> None:
        """One forward over slots [0, highest decoding slot], then sample the decoding rows."""
        rows = sorted((s for s in self.running.values() if s.pending == 1), key=lambda s: s.slot)
        if not rows:
            return
        width = rows[-1].slot + 1
        self.peak_batch = max(self.peak_batch, len(rows))
        tokens, pos = [0] * width, [0] * width  # free slots: a dummy token at position 0
        for seq in self.running.values():
            if seq.slot < width:  # mid-prefill: its dummy key is overwritten by its next chunk
                pos[seq.slot] = seq.fed
        for seq in rows:
            tokens[seq.slot] = seq.tokens[-1]
        idx = torch.tensor(tokens, device=self.device)[:, None]  # (width, 1)
        logits = self._forward(slice(0, width), pos, idx, logits_to_keep=1)[:, 0]  # (width, V)
        slots = torch.tensor([s.slot for s in rows], device=self.device)  # (D,)
        for seq in rows:
            seq.fed += 1
        sampler = BatchSampler.for_params([s.params for s in rows], self.device)
        uniforms = draw_uniforms([s.generator for s in rows], self.device)
        seen = self.seen[slots] if sampler.needs_penalty else None
        top_n = max(s.params.top_logprobs for s in rows)
        step = sample_step(logits[slots], sampler, uniforms, seen, top_n)
        self.seen[slots, step.ids] = True
        ids, floats = step.to_host()
        now = time.perf_counter()
        for seq, seq_ids, seq_floats in zip(rows, ids, floats, strict=True):
            seq.tokens.append(seq_ids[0])
            self._emit(seq, out, seq_ids, seq_floats, now)
            if seq.id in self.running and len(seq.tokens) - seq.start > self.context:
                seq.start, seq.fed = len(seq.tokens) - self.keep, 0  # slide: refill the slot

    def _forward(
        self, rows: slice | list[int], pos: list[int], idx: torch.Tensor, logits_to_keep: int
    ):
        self.cache.select(rows, pos, idx.size(1), self.device)
        with autocast(self.device):
            logits, _ = self.model(idx, kv_cache=self.cache, logits_to_keep=logits_to_keep)
        return logits  # (B, logits_to_keep, V)

    def _emit(self, seq: _Sequence, out: list, ids: list[int], floats: list[float], now: float):
        """The token event for seq (and its done event if this token ends it)."""
        token_id, k = ids[0], seq.params.top_logprobs
        seq.produced += 1
        seq.first_at = seq.first_at or now
        ended = token_id in seq.end_ids
        piece = self.bytes_table[token_id]
        # An end-of-text token's bytes are a marker, not text: it only flushes what is held.
        text = seq.text.flush() if ended else seq.text.push(piece)
        reason: Reason | None = "end_of_text" if ended else "stop" if seq.text.stopped else None
        if reason is None and seq.produced >= seq.params.max_new_tokens:
            reason, text = "max_new_tokens", text + seq.text.flush()
        n_top = len(ids) - 1  # floats: logprob, sample_logprob, n_top logprobs, n_top sample
        top = [self._top_entry(ids[1 + j], floats[2 + j], floats[2 + n_top + j]) for j in range(k)]
        out.append((seq.id, {
            "event": "token", "stream": seq.stream, "id": token_id, "bytes": piece.hex(),
            "text": text, "logprob": floats[0], "sample_logprob": floats[1], "top": top,
        }))  # fmt: skip
        if reason is not None:
            self._finish(seq, out, reason, now)

    def _top_entry(self, token_id: int, logprob: float, sample_logprob: float) -> TopEntry:
        raw = self.bytes_table[token_id]
        sample = sample_logprob if math.isfinite(sample_logprob) else None
        return {"id": token_id, "bytes": raw.hex(), "text": raw.decode("utf-8", errors="replace"),
                "logprob": logprob, "sample_logprob": sample}  # fmt: skip

    def _finish(self, seq: _Sequence, out: list, reason: Reason, now: float, text: str = ""):
        """Take seq out of the queue or its slot, with its done event."""
        if seq.slot is None:
            self.waiting.remove(seq)
        else:
            del self.running[seq.id]
        rate = ttft = None
        if seq.first_at is not None:
            ttft = (seq.first_at - seq.submitted) * 1000
            if seq.produced > 1 and now > seq.first_at:
                rate = (seq.produced - 1) / (now - seq.first_at)
        out.append((seq.id, {
            "event": "done", "stream": seq.stream, "reason": reason, "tokens": seq.produced,
            "tokens_per_s": rate, "ttft_ms": ttft, "seed": seq.seed, "text": text,
        }))  # fmt: skip
