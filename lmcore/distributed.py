"""Data-parallel training under `torchrun`: process-group setup and the few collectives we use.

`torchrun --standalone --nproc-per-node=N -m lmcore train ...` starts N copies of the same
command with RANK / LOCAL_RANK / WORLD_SIZE in the environment. Each copy trains on its share
of every global batch; DDP averages gradients during backward. Every rank scores its share of
the validation windows and the totals are summed (`sum_floats`); the logged loss is averaged
over ranks (`mean`). Rank 0 alone samples, writes checkpoints and emits events; the others
wait for it at the next collective, for seconds. At the end every rank's weights are hashed
(`replica_digests`): replicas that drifted apart are an error, not a silent average.

Wall-clock limits, cancellation and the time-based learning-rate schedule are rank 0's
decisions, broadcast every step: ranks whose clocks disagreed would otherwise stop at
different steps (a hang) or use different learning rates (replicas drifting apart).
Without torchrun (WORLD_SIZE unset or 1) every function here is a cheap no-op.
"""

from __future__ import annotations

import gc
import hashlib
import importlib
import os
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel

from lmcore.errors import LmcoreError


@dataclass(frozen=True)
class DistContext:
    rank: int = 0
    local_rank: int = 0
    world_size: int = 1

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def context_from_env() -> DistContext:
    """Ranks as torchrun sets them (single process when unset)."""
    try:
        return DistContext(
            rank=int(os.environ.get("RANK", 0)),
            local_rank=int(os.environ.get("LOCAL_RANK", 0)),
            world_size=int(os.environ.get("WORLD_SIZE", 1)),
        )
    except ValueError as exc:
        raise LmcoreError(f"bad torchrun environment: {exc}") from exc


def init_distributed(device_type: str) -> DistContext:
    """Join the process group (NCCL on CUDA, gloo on CPU) once; safe to call again."""
    ctx = context_from_env()
    if not ctx.enabled or dist.is_initialized():
        return ctx
    if device_type == "cuda":
        torch.cuda.set_device(ctx.local_rank)
    # Imported before the group exists: its functions take `group=group.WORLD` as a default,
    # evaluated at import, and DDP imports it (through torch.distributed._shard). Imported
    # after, the defaults keep the group alive past destroy_process_group, and gloo's threads
    # were joined only while the interpreter tore its modules down: a rank then sometimes
    # died at exit with SIGABRT, "terminate called without an active exception".
    importlib.import_module("torch.distributed.nn.functional")
    dist.init_process_group(backend="nccl" if device_type == "cuda" else "gloo")
    return ctx


def barrier(ctx: DistContext) -> None:
    if ctx.enabled and dist.is_initialized():
        dist.barrier()


def shutdown(ctx: DistContext) -> None:
    """Leave the process group, and with it stop its threads (gloo's), before the interpreter
    exits: the DDP wrapper that held the group must be gone, so call it after `train` returns."""
    if ctx.enabled and dist.is_initialized():
        gc.collect()  # a DDP wrapper caught in a reference cycle still holds the group
        dist.destroy_process_group()


def wrap(model: torch.nn.Module, ctx: DistContext, device: torch.device) -> torch.nn.Module:
    """DDP around the model when running under torchrun; the model itself otherwise."""
    if not ctx.enabled:
        return model
    device_ids = [device.index] if device.type == "cuda" else None
    return DistributedDataParallel(model, device_ids=device_ids)


# Why a run stops, as broadcast between ranks ("" = keep going).
STOP_REASONS = ("", "max_steps", "max_seconds", "cancelled", "nan")


def sync_control(
    ctx: DistContext, progress: float, reason: str, device: torch.device
) -> tuple[float, str]:
    """Rank 0's (progress, stop reason) for every rank; see the module docstring for why."""
    if not ctx.enabled:
        return progress, reason
    # float64: progress drives the learning rate, which must match to the last bit.
    flags = torch.tensor([progress, STOP_REASONS.index(reason)], dtype=torch.float64, device=device)
    dist.broadcast(flags, src=0)
    return float(flags[0]), STOP_REASONS[int(flags[1])]


def mean(ctx: DistContext, value: torch.Tensor) -> torch.Tensor:
    """The mean of a scalar tensor over ranks (the value itself without torchrun)."""
    if not ctx.enabled:
        return value
    value = value.clone()
    dist.all_reduce(value, op=dist.ReduceOp.SUM)
    return value / ctx.world_size


def sum_floats(ctx: DistContext, values: list[float], device: torch.device) -> list[float]:
    """Element-wise sums over ranks, in float64 (token and byte counts stay exact to 2**53)."""
    if not ctx.enabled:
        return values
    totals = torch.tensor(values, dtype=torch.float64, device=device)
    dist.all_reduce(totals, op=dist.ReduceOp.SUM)
    return totals.tolist()


def replica_digests(ctx: DistContext, model: torch.nn.Module) -> list[str]:
    """SHA-256 (first 16 hex digits) of each rank's parameters, gathered on every rank."""
    digest = hashlib.sha256()
    for tensor in model.state_dict().values():
        digest.update(tensor.detach().float().cpu().numpy().tobytes())
    mine = digest.hexdigest()[:16]
    if not ctx.enabled:
        return [mine]
    gathered: list[str | None] = [None] * ctx.world_size
    dist.all_gather_object(gathered, mine)
    return [str(d) for d in gathered]
