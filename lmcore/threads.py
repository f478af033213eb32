"""Intra-op threads: each process takes its share of the cores it may use, not all of them.

torch's default is one thread per core for every process. Two processes that each think they
own every core (a training run beside an inference worker, or N torchrun ranks) make their
OpenMP threads wait on each other: on a 2-core machine a tiny model's steps became 10x
slower. So the training worker gives each training process its share with `lmcore train
--threads N` (docs/architecture.md, "Threads"): BOTTEGA_TRAIN_TORCH_THREADS, else the
worker's usable cores divided by the run's processes; a `cpu` worker's evaluations divide
them by its processes. The usable cores are the process's CPU affinity
(`taskset`, a container's cpuset), not the machine's count.
"""

from __future__ import annotations

import os


def usable_cores() -> int:
    """The cores this process may run on (its affinity mask), at least 1."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):  # not Linux
        return max(1, os.cpu_count() or 1)


def share_of_cores(processes: int, cores: int | None = None) -> int:
    """Threads for each of `processes` processes sharing `cores` (default: the usable ones),
    at least 1. E.g. `share_of_cores(2, cores=16) == 8`, `share_of_cores(4, cores=2) == 1`."""
    cores = usable_cores() if cores is None else cores
    return max(1, cores // max(1, processes))


def use_threads(threads: int) -> int:
    """Set torch's intra-op threads in this process; returns what torch now reports."""
    import torch  # here: the Celery workers use the helpers above without loading torch

    torch.set_num_threads(threads)
    return torch.get_num_threads()
