"""How many CPU threads a model may use: the cores actually free, split between batch workers.

Torch's default is one thread per core. On a shared machine that is the wrong choice: measured on
320 s of music on 2 cores (issue 10), decoding took 10.1 s idle; with one other busy process 19.3 s
on torch's 2 threads against 10.8 s on one; under heavier load 51 s against 14 s. Too many threads
cost far more than too few (10.1 vs 10.8 s idle), so the automatic choice is conservative: the
cores this process may run on, minus the 1-minute load average, at least one.

No torch import here: :func:`apply_threads` imports it only when a model is about to run.
"""

from __future__ import annotations

import math
import os


def usable_cores() -> int:
    """Cores this process may run on (CPU affinity, cgroup-limited containers included)."""
    try:
        n = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        n = os.cpu_count() or 1
    return max(1, n)


def busy_cores() -> float:
    """Runnable work on the machine: the 1-minute load average (0 where the OS has none)."""
    try:
        return max(0.0, os.getloadavg()[0])
    except (AttributeError, OSError):
        return 0.0


def free_cores(cores: int | None = None, load: float | None = None) -> int:
    """Cores not taken by other work, rounded to the nearest whole core, at least one."""
    cores = usable_cores() if cores is None else cores
    load = busy_cores() if load is None else load
    return max(1, min(cores, math.floor(cores - load + 0.5)))


def pick_threads(jobs: int = 1, requested: int | None = None, cores: int | None = None,
                 load: float | None = None) -> int:
    """Threads per worker: ``requested`` when given (``--threads``), else free cores / jobs (>= 1),
    capped by ``OMP_NUM_THREADS`` when that is set."""
    if requested is not None:
        if requested < 1:
            raise ValueError("threads must be >= 1")
        return requested
    n = max(1, free_cores(cores, load) // max(1, jobs))
    cap = os.environ.get("OMP_NUM_THREADS", "")
    if cap.isdigit() and int(cap) > 0:  # the user (or a test harness) already limited threads
        n = min(n, int(cap))
    return n


def apply_threads(n: int) -> None:
    """Set torch's intra-op thread count (imports torch: call only where a model runs)."""
    import torch

    torch.set_num_threads(max(1, int(n)))
