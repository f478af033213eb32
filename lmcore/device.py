"""Choosing and preparing the compute device: shared by training, evaluation and the engine.

`auto` means CUDA when a GPU is visible, else CPU. Nothing here touches CUDA at import time
(Celery workers fork, and a forked child cannot use a parent's CUDA context), only when a
function is called. On CUDA we compute in bf16 under autocast (weights and optimizer state stay
fp32) and let the remaining fp32 matmuls use TF32: both trade a little precision, irrelevant to
language model training, for several times the throughput. CPU stays in fp32: at the sizes that
train on a CPU, bf16 autocast measured no faster on our 2-core machines and costs accuracy.
"""

from __future__ import annotations

import torch

from lmcore.config import DEVICES
from lmcore.distributed import DistContext
from lmcore.errors import LmcoreError


def resolve_device(name: str, local_rank: int | DistContext = 0) -> torch.device:
    """The torch device for `auto` / `cpu` / `cuda` (cuda:local_rank under torchrun).

    `local_rank` may also be a DistContext (the form commands written first against
    lmcore.train use).
    """
    local_rank = getattr(local_rank, "local_rank", local_rank)
    if name not in DEVICES:
        raise LmcoreError(f"device must be one of {', '.join(DEVICES)}, not {name!r}")
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cuda":
        if not torch.cuda.is_available():
            raise LmcoreError(
                "device cuda requested but no CUDA GPU is available; use --device cpu"
            )
        return torch.device("cuda", local_rank)
    return torch.device("cpu")


def configure(device: torch.device) -> None:
    """TF32 for the fp32 matmuls left outside autocast (CUDA only; a no-op on CPU).

    Through `set_float32_matmul_precision`, not the per-backend `fp32_precision` flags of
    torch >= 2.9: setting only `torch.backends.cuda.matmul.fp32_precision` leaves the
    backends disagreeing, and then `torch.get_float32_matmul_precision()` and
    `torch.backends.cuda.matmul.allow_tf32` raise "mix of the legacy and new APIs" for
    whoever reads them (torch.compile's autotuning cache among them). This call sets every
    backend at once (cuda.matmul's fp32_precision reads "tf32" afterwards)."""
    if device.type != "cuda":
        return
    torch.set_float32_matmul_precision("high")


def autocast(device: torch.device) -> torch.autocast:
    """bf16 autocast on CUDA, disabled elsewhere: use as `with autocast(device): ...`."""
    return torch.autocast(device.type, dtype=torch.bfloat16, enabled=device.type == "cuda")
