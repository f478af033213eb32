"""Sampling controls: turn next-token logits into a choice, with the probabilities to show.

Per step and per row the logits go through, in this order (Hugging Face's):
repetition penalty -> temperature -> top-k -> top-p. Temperature 0 is greedy: the
distribution actually sampled from is then a point mass on the (penalised) argmax.

Two log-probabilities come out for the chosen token and for each shown alternative (natural
log, as every figure in lmcore):
- `logprob`: under the model's own distribution (temperature 1, no penalty, no filtering);
  the number score mode and bits per byte use.
- `sample_logprob`: under the distribution the token was drawn from; -inf (None on the wire)
  for a token the filters removed.

Randomness: each request owns a CPU `torch.Generator` seeded with its seed and draws one
uniform number per sampled token; the token is found by inverse CDF over the vocabulary.
So the same seed and prompt give the same text whatever else runs, batched or not, and a
CPU and a GPU run draw the same numbers. The trade-off is one tiny host->device copy of
the uniforms per step instead of a device-side `torch.multinomial`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from lmcore.config import (  # noqa: F401  (re-exported: the engine and CLI import them here)
    MAX_NEW_TOKENS,
    MAX_SEED,
    MAX_STOP_CHARS,
    MAX_STOP_STRINGS,
    MAX_TOP_LOGPROBS,
    MIN_TEMPERATURE,
    SamplingParams,
)


@dataclass
class BatchSampler:
    """The per-row settings of a batch as tensors, so one step samples every row at once."""

    temperature: torch.Tensor  # (B,) float
    top_k: torch.Tensor  # (B,) long, 0 = off
    top_p: torch.Tensor  # (B,) float
    penalty: torch.Tensor  # (B,) float
    greedy: torch.Tensor  # (B,) bool
    needs_sort: bool  # any row uses top-k or top-p
    needs_penalty: bool
    all_greedy: bool  # every row: temperature 0 (no draw needed)

    @classmethod
    def for_params(cls, params: list[SamplingParams], device: torch.device) -> BatchSampler:
        def col(name: str, dtype: torch.dtype) -> torch.Tensor:
            return torch.tensor([getattr(p, name) for p in params], dtype=dtype, device=device)

        return cls(
            temperature=col("temperature", torch.float32), top_k=col("top_k", torch.long),
            top_p=col("top_p", torch.float32), penalty=col("repetition_penalty", torch.float32),
            greedy=col("temperature", torch.float32) == 0,
            needs_sort=any(p.top_k > 0 or p.top_p < 1 for p in params),
            needs_penalty=any(p.repetition_penalty != 1 for p in params),
            all_greedy=all(p.temperature == 0 for p in params),
        )  # fmt: skip

    def sampling_logits(self, logits: torch.Tensor, seen: torch.Tensor | None) -> torch.Tensor:
        """Logits (B, V) of the distribution actually sampled from; -inf = filtered out."""
        x = logits
        if self.needs_penalty and seen is not None:
            pen = self.penalty[:, None]  # (B, 1)
            # CTRL: a seen token is made less likely whatever the sign of its logit.
            x = torch.where(seen, torch.where(x > 0, x / pen, x * pen), x)
        greedy_pick = x.argmax(dim=-1, keepdim=True)  # (B, 1), before any rescaling
        point_mass = torch.full_like(x, -math.inf).scatter(1, greedy_pick, 0.0)
        if self.all_greedy:
            return point_mass
        x = x / torch.where(self.greedy, 1.0, self.temperature)[:, None]
        if self.needs_sort:
            x = self._filter(x)
        return torch.where(self.greedy[:, None], point_mass, x)  # (B, V)

    def _filter(self, x: torch.Tensor) -> torch.Tensor:
        """Top-k then top-p on temperature-scaled logits (B, V)."""
        V = x.size(-1)
        sorted_x, order = x.sort(dim=-1, descending=True)  # (B, V) each
        rank = torch.arange(V, device=x.device)[None, :]  # (1, V)
        k = torch.where(self.top_k > 0, self.top_k, V)[:, None]  # (B, 1)
        keep = rank < k
        probs = torch.softmax(sorted_x.masked_fill(~keep, -math.inf), dim=-1)
        mass_before = probs.cumsum(dim=-1) - probs  # (B, V): mass of the more likely tokens
        # Smallest prefix with mass >= p: a token stays while the mass before it is < p.
        keep &= (mass_before < self.top_p[:, None]) | (self.top_p[:, None] >= 1)
        keep[:, 0] = True  # the most likely token always survives (guards rounding at p ~ 0)
        filtered = sorted_x.masked_fill(~keep, -math.inf)
        return torch.empty_like(x).scatter(1, order, filtered)  # back to vocabulary order


@dataclass
class StepResult:
    """One sampling step for a batch; -inf in sample_logprob marks a filtered token."""

    ids: torch.Tensor  # (B,) long
    logprob: torch.Tensor  # (B,)
    sample_logprob: torch.Tensor  # (B,)
    top_ids: torch.Tensor | None  # (B, K) by model probability, or None when K == 0
    top_logprob: torch.Tensor | None  # (B, K)
    top_sample_logprob: torch.Tensor | None  # (B, K)

    def to_host(self) -> tuple[list[list[int]], list[list[float]]]:
        """Per row: [id, top ids...] and [logprob, sample_logprob, top logprobs..., top sample
        logprobs...]; two device->host copies per step whatever the batch size."""
        ids, floats = [self.ids[:, None]], [self.logprob[:, None], self.sample_logprob[:, None]]
        if self.top_ids is not None:
            ids.append(self.top_ids)
            floats += [self.top_logprob, self.top_sample_logprob]
        return torch.cat(ids, dim=1).tolist(), torch.cat(floats, dim=1).float().tolist()


def sample_step(
    logits: torch.Tensor,
    sampler: BatchSampler,
    uniforms: torch.Tensor,
    seen: torch.Tensor | None = None,
    top_n: int = 0,
) -> StepResult:
    """Choose a token per row from logits (B, V) with uniforms (B,) in [0, 1)."""
    model_lp = torch.log_softmax(logits.float(), dim=-1)  # (B, V), T = 1, unfiltered
    sampling = sampler.sampling_logits(logits.float(), seen)  # (B, V)
    if sampler.all_greedy:  # point masses, already normalised: 0 at the choice, no draw
        sample_lp, ids = sampling, sampling.argmax(dim=-1)  # (B, V), (B,)
    else:
        sample_lp = torch.log_softmax(sampling, dim=-1)
        ids = inverse_cdf(sample_lp.exp(), uniforms)  # (B,)
    pick = ids[:, None]
    result = StepResult(ids, model_lp.gather(1, pick)[:, 0], sample_lp.gather(1, pick)[:, 0],
                        None, None, None)  # fmt: skip
    if top_n:
        result.top_logprob, result.top_ids = model_lp.topk(top_n, dim=-1)  # (B, K) each
        result.top_sample_logprob = sample_lp.gather(1, result.top_ids)
    return result


def inverse_cdf(probs: torch.Tensor, uniforms: torch.Tensor) -> torch.Tensor:
    """The first id whose cumulative probability exceeds u (B,): a draw from probs (B, V).

    Double precision keeps u * total below the last cumulative value, and a zero-probability
    id never has a cumulative value above the one before it, so it is never chosen.
    """
    cdf = probs.double().cumsum(dim=-1)  # (B, V)
    target = (uniforms.to(cdf) * cdf[:, -1])[:, None]  # (B, 1)
    ids = torch.searchsorted(cdf, target, right=True)[:, 0]
    return ids.clamp_(max=probs.size(-1) - 1)


def make_generator(seed: int) -> torch.Generator:
    return torch.Generator("cpu").manual_seed(seed)


def draw_uniforms(generators: list[torch.Generator | None], device: torch.device) -> torch.Tensor:
    """One uniform per row from its own generator; rows given None draw nothing (u = 0)."""
    values = [
        torch.rand((), generator=g, dtype=torch.float64).item() if g is not None else 0.0
        for g in generators
    ]
    return torch.tensor(values, dtype=torch.float64).to(device, non_blocking=True)
