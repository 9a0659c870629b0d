"""Device choice and seeding."""

from __future__ import annotations

import contextlib
import random
import sys
import warnings
from pathlib import Path
from typing import Iterator

import torch


def select_device(preference: str = "auto") -> torch.device:
    """"auto" or "cuda" take the GPU when CUDA really works, else the CPU (with a warning for "cuda")."""
    if preference not in ("auto", "cpu", "cuda"):
        raise ValueError(f"unknown device {preference!r}; allowed: auto, cpu, cuda")
    if preference != "cpu" and torch.cuda.is_available():
        try:
            torch.zeros(1, device="cuda")
            return torch.device("cuda")
        except RuntimeError as error:
            warnings.warn(f"CUDA is present but unusable ({error}); using the CPU")
    elif preference == "cuda":
        warnings.warn("device 'cuda' was asked for but CUDA is not available; using the CPU")
    return torch.device("cpu")


def set_threads(n: int) -> None:
    """Use `n` CPU threads for torch's operators (the job's share of the machine, not all cores)."""
    torch.set_num_threads(max(1, int(n)))


def seed_everything(seed: int) -> None:
    """Seed Python and torch (CPU and CUDA) for a reproducible run."""
    random.seed(seed)
    torch.manual_seed(seed)


class _Tee:
    def __init__(self, *streams):
        self.streams = streams

    def write(self, text):
        for stream in self.streams:
            stream.write(text)
            stream.flush()
        return len(text)

    def flush(self):
        for stream in self.streams:
            stream.flush()


@contextlib.contextmanager
def log_to(path: str | None) -> Iterator[None]:
    """Copy everything written to stderr (progress bars, warnings) into `path` for the block."""
    if path is None:
        yield
        return
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as log:
        original = sys.stderr
        sys.stderr = _Tee(original, log)
        try:
            yield
        finally:
            sys.stderr = original
