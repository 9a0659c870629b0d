"""What the benchmarks (benchmarks/*.py, rule benchmark) share: their command line, and wall-clock timing
synchronised with the GPU, interleaved, as medians."""

from __future__ import annotations

import argparse
import json
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


def parser(doc: str, *, models: bool = True, trained: bool = False, dataset: bool = False) -> argparse.ArgumentParser:
    """The command line every benchmark takes (rule benchmark writes it from the registry): --title, --out and
    --device, and as the benchmark reads them --models (registry entries by name, as JSON), --weights (their
    trained weights, in that order) and --dataset. Add the benchmark's own options to it."""
    result = argparse.ArgumentParser(description=doc.splitlines()[0])
    result.add_argument("--title", default=doc.splitlines()[0])
    result.add_argument("--out", required=True)
    result.add_argument("--device", default="auto")
    if models:
        result.add_argument("--models", required=True, type=json.loads, help="registry entries by name, as JSON")
    if trained:
        result.add_argument("--weights", required=True, nargs="+")
    if dataset or trained:
        result.add_argument("--dataset", required=True)
    return result
