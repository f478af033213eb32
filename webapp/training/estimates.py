"""What a training run will cost, shown before launch (parameters, memory, tokens, time).

Time is a rough figure from FLOPs at an assumed sustained rate per device kind; the form says
so. A run limited by minutes takes exactly that.
"""

from __future__ import annotations

from typing import TypedDict

from lmcore.config import GPTConfig, TrainConfig
from lmcore.estimate import H200_BF16_PEAK_FLOPS, estimate, flops_per_token

# Sustained training FLOP/s assumed per device kind: a 2-core x86 CPU in fp32, and an H200 at
# 40% of its bf16 peak (what nanoGPT-style training reaches; see docs/benchmarks.md).
ASSUMED_FLOPS = {"cpu": 3e10, "cuda": 0.4 * H200_BF16_PEAK_FLOPS}


class RunEstimate(TypedDict):
    params: int
    memory_bytes: int
    tokens_per_step: int
    steps: int | None
    seconds: float
    seconds_basis: str


def estimate_run(model: GPTConfig, train: TrainConfig, devices: int = 1) -> RunEstimate:
    """With several devices each computes its own batch in the same time: a step takes as
    long and holds `devices` times the tokens (memory is per device)."""
    device = "cuda" if train.device == "cuda" else "cpu"
    cost = estimate(model, train.batch_size, mixed_precision=device == "cuda")
    tokens_per_device = train.batch_size * train.grad_accum * model.context
    tokens_per_step = tokens_per_device * devices
    step_seconds = tokens_per_device * flops_per_token(model) / ASSUMED_FLOPS[device]
    if train.max_steps is not None:
        seconds, basis = train.max_steps * step_seconds, f"{train.max_steps} steps on a {device}"
    else:
        seconds, basis = 0.0, ""
    if train.max_seconds is not None and (not basis or train.max_seconds < seconds):
        seconds, basis = train.max_seconds, "the time limit"
    steps = train.max_steps if basis != "the time limit" else int(seconds / step_seconds)
    return RunEstimate(params=cost["params"], memory_bytes=cost["total_bytes"],
                       tokens_per_step=tokens_per_step, steps=steps,
                       seconds=round(seconds, 1), seconds_basis=basis)  # fmt: skip
