"""Provenance carried by every result file: config hash, scale, seed, commit, device, versions, time."""

from __future__ import annotations

import hashlib
import json
import platform
import socket
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import torch

import advrepro


def config_hash(spec) -> str:
    """A short, stable hash of a JSON-serialisable spec."""
    return hashlib.sha256(json.dumps(spec, sort_keys=True, default=str).encode()).hexdigest()[:12]


def tensor_digest(*tensors: torch.Tensor) -> str:
    """A short sha256 of the tensors' shapes, dtypes and values (what a model is trained on)."""
    digest = hashlib.sha256()
    for tensor in tensors:
        digest.update(f"{tuple(tensor.shape)} {tensor.dtype};".encode())
        digest.update(tensor.detach().cpu().contiguous().view(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()[:16]


def files_digest(paths) -> str:
    """A short sha256 of the files' contents in the order given (e.g. the library code a job imports)."""
    digest = hashlib.sha256()
    for path in paths:
        digest.update(Path(path).read_bytes())
    return digest.hexdigest()[:16]


def git_commit() -> str:
    """HEAD of the working directory's repository, '+dirty' if it has changes; 'unknown' outside git."""
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, check=True).stdout
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], capture_output=True, text=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return commit.strip()[:12] + ("+dirty" if dirty.strip() else "")


def record(spec, *, scale: str, seed: int | None, device, started: float) -> dict:
    """The provenance block written next to a result (`started` is a time.time() stamp)."""
    return {
        "config_hash": config_hash(spec),
        "scale": scale,
        "seed": seed,
        "git_commit": git_commit(),
        "device": str(device),
        "device_name": torch.cuda.get_device_name() if str(device).startswith("cuda") else platform.processor() or platform.machine(),
        "host": socket.gethostname(),
        "versions": {"python": sys.version.split()[0], "torch": torch.__version__, "advrepro": advrepro.__version__},
        "wall_time_s": round(time.time() - started, 3),
        "finished": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
