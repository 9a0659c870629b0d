"""Wall-clock timing for the benchmarks: synchronised with the GPU, interleaved, medians."""

from __future__ import annotations

import statistics
import time
from typing import Callable

import torch


def seconds(fn: Callable[[], object]) -> tuple[float, object]:
    """Wall time of one call (CUDA synchronised before and after, when CUDA is in use) and its result."""
    synchronise = torch.cuda.synchronize if torch.cuda.is_available() and torch.cuda.is_initialized() else (lambda: None)
    synchronise()
    start = time.perf_counter()
    result = fn()
    synchronise()
    return time.perf_counter() - start, result


def interleaved_medians(fns: dict[str, Callable[[], object]], repeats: int, warmup: int = 1) -> dict[str, float]:
    """The median wall time of each function over `repeats` rounds in which every function runs once, after
    `warmup` untimed rounds: interleaving spreads the machine's drift over all of them alike."""
    for _ in range(warmup):
        for fn in fns.values():
            fn()
    times = {name: [] for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            times[name].append(seconds(fn)[0])
    return {name: statistics.median(values) for name, values in times.items()}
