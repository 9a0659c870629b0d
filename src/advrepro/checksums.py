"""Checksums of raw dataset files (no torch import: the workflow computes them when it builds its DAG)."""

from __future__ import annotations

import hashlib
from pathlib import Path

RAW_FOLDERS = {"mnist": "MNIST/raw", "cifar10": "cifar-10-batches-py"}  # under a torchvision root
SYNTHETIC = "synthetic stand-in (advrepro.data.synthetic_cifar10)"


def digest(path: Path, algorithm: str) -> str:
    """Hex digest of a file ("md5" or "sha256"), read in 1 MiB blocks."""
    hasher = hashlib.new(algorithm)
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            hasher.update(block)
    return hasher.hexdigest()


def raw_digest(name: str, root: str | Path) -> dict[str, str]:
    """sha256 of every raw file of dataset `name` under a torchvision root, by file name: what
    `data.prepare` verifies, so the same files read from any path (or spelling of it) are the same dataset."""
    folder = Path(root) / RAW_FOLDERS[name]
    files = sorted(p for p in folder.iterdir() if p.is_file()) if folder.is_dir() else []
    return {p.name: digest(p, "sha256") for p in files}
