"""What a job needs around its computation: the device, its share of threads, seeding, its log."""

from __future__ import annotations

import contextlib
import os
import random
import sys
import time
import traceback
from pathlib import Path
from typing import Iterator, NamedTuple

import torch

from advrepro import provenance


def _cuda_error() -> str | None:
    """None when CUDA really works (a device is there and a tiny kernel runs), else why not."""
    if not torch.cuda.is_available():
        return "torch.cuda.is_available() is False (no usable driver or device)"
    try:
        if (torch.ones(1, device="cuda") + 1).item() != 2:  # launch a kernel and copy back: synchronizes
            return "a test computation on the GPU gave a wrong result"
    except Exception as error:  # RuntimeError, AssertionError (a torch without CUDA), driver errors
        return f"a test computation on the GPU failed ({type(error).__name__}: {error})"
    return None


def select_device(preference: str = "auto") -> torch.device:
    """The device to compute on: "cpu", or the GPU for "auto"/"cuda" when CUDA really works.

    Otherwise the CPU, with a warning on stderr (so in the job's log) when a GPU was expected: the
    preference was "cuda", or CUDA_VISIBLE_DEVICES names a device (as SLURM sets it for a job that
    asked for a GPU). "auto" on a machine with no GPU and no CUDA_VISIBLE_DEVICES falls back silently.
    """
    if preference not in ("auto", "cpu", "cuda"):
        raise ValueError(f"unknown device {preference!r}; allowed: auto, cpu, cuda")
    if preference == "cpu":
        return torch.device("cpu")
    error = _cuda_error()
    if error is None:
        return torch.device("cuda")
    visible = os.environ.get("CUDA_VISIBLE_DEVICES", "").strip()
    if preference == "cuda" or visible not in ("", "-1"):
        reason = "device 'cuda' was asked for" if preference == "cuda" else f"CUDA_VISIBLE_DEVICES={visible}"
        print(f"warning: {reason} but CUDA does not work: {error}; using the CPU", file=sys.stderr, flush=True)
    return torch.device("cpu")


def share_gpu(device: torch.device, jobs: int) -> None:
    """Cap this process's CUDA memory at 1/`jobs` of the GPU when `jobs` model jobs share it (snakemake
    --resources gpu_slots=N, README "Paper scale on one GPU workstation"): one job's growth then fails that job
    with an out-of-memory error instead of the others. Nothing on the CPU or for one job."""
    if device.type == "cuda" and jobs > 1:
        torch.cuda.set_per_process_memory_fraction(1 / jobs, device)


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
    """Copy everything written to stderr (progress bars, warnings) into `path` for the block, and
    the traceback of an exception that ends it (so a failed job's log says why)."""
    if path is None:
        yield
        return
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as log:
        original = sys.stderr
        sys.stderr = _Tee(original, log)
        try:
            yield
        except BaseException:
            log.write(traceback.format_exc())
            raise
        finally:
            sys.stderr = original


class Job(NamedTuple):
    """A running workflow job that computes with torch: its device, start time and scale."""

    device: torch.device
    started: float
    scale: str

    def provenance(self, spec, seed: int | None) -> dict:
        """The provenance record of its result (advrepro.provenance.record)."""
        return provenance.record(spec, scale=self.scale, seed=seed, device=self.device, started=self.started)


@contextlib.contextmanager
def model_job(sm) -> Iterator[Job]:
    """The set-up of a job `sm` (Snakemake's object) that computes with torch: stderr (and a failure's
    traceback) copied to its log, the device it asks for (params.device), its share of the GPU's memory
    (resources.gpu_jobs), its share of threads, its start."""
    with log_to(sm.log[0]):
        started = time.time()
        device = select_device(sm.params.device)
        share_gpu(device, int(getattr(sm.resources, "gpu_jobs", 1) or 1))
        set_threads(sm.threads)
        yield Job(device, started, sm.params.scale)
