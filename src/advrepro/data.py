"""Datasets: torchvision download with checksums -> one prepared tensor archive per dataset.

A prepared archive is a dict {"train": {"images", "labels"}, "test": {...}, "meta": {...}} of
uint8 NCHW images and int64 labels (official train/test split), loaded in one call.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import torch

from advrepro.io import load_tensors, save_tensors

SUPPORTED = ("mnist", "cifar10")


class DatasetError(RuntimeError):
    """A dataset is missing, corrupt or unknown; the message says how to fix it."""


def _how_to_provide(name: str, where: Path) -> str:
    return (
        f"{name} was not found under {where}. Either let the workflow download it "
        "(leave `torchvision_root: null` in config/config.yaml; needs internet), or point it at "
        "an existing torchvision root, e.g. `snakemake --config "
        "torchvision_root=../shared/datasets/mnist-offline` (MNIST only)."
    )


def _digest(path: Path, algorithm: str) -> str:
    """Hex digest of a file ("md5" or "sha256"), read in 1 MiB blocks."""
    digest = hashlib.new(algorithm)
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def verify_mnist(root: Path, variants: dict) -> str:
    """Check every raw MNIST file; return the variant name ("official" or a key of `variants`).

    A file with its official .gz beside it must match torchvision's md5 for that .gz; an
    uncompressed file alone must match the sha256 of one known variant for every file.
    """
    from torchvision.datasets import MNIST

    raw = root / "MNIST" / "raw"
    names = [gz.removesuffix(".gz") for gz, _ in MNIST.resources]
    missing = [n for n in names if not (raw / n).exists()]
    if missing:
        raise DatasetError(_how_to_provide("MNIST", raw) + f" Missing: {', '.join(missing)}.")
    official = dict(MNIST.resources)
    if all((raw / f"{n}.gz").exists() for n in names):
        for n in names:
            actual = _digest(raw / f"{n}.gz", "md5")
            if actual != official[f"{n}.gz"]:
                raise DatasetError(
                    f"checksum mismatch for {raw / (n + '.gz')}: md5 {actual}, expected "
                    f"{official[n + '.gz']} (torchvision's MNIST.resources). Delete it and rerun."
                )
        return "official"
    actual = {n: _digest(raw / n, "sha256") for n in names}
    for variant, spec in variants.items():
        if all(spec["sha256"].get(n) == actual[n] for n in names):
            return variant
    known = {v: s["sha256"] for v, s in variants.items()}
    bad = [n for n in names if all(s.get(n) != actual[n] for s in known.values())]
    raise DatasetError(
        f"checksum mismatch under {raw}: sha256 of {', '.join(bad)} matches no known copy "
        f"({', '.join(known) or 'none listed'} in config/datasets.yaml, or official .gz files). "
        f"Actual sha256: {', '.join(f'{n}={actual[n]}' for n in bad)}. The file is corrupt or "
        "an unknown copy: re-download it, or list the copy in config/datasets.yaml."
    )


def verify_cifar10(root: Path) -> str:
    """Check every CIFAR-10 batch against torchvision's md5 list; return "official"."""
    from torchvision.datasets import CIFAR10
    from torchvision.datasets.utils import check_integrity

    folder = root / CIFAR10.base_folder
    for filename, md5 in CIFAR10.train_list + CIFAR10.test_list:
        path = folder / filename
        if not path.exists():
            raise DatasetError(_how_to_provide("CIFAR-10", folder) + f" Missing: {filename}.")
        if not check_integrity(str(path), md5):
            raise DatasetError(
                f"checksum mismatch for {path}: md5 {_digest(path, 'md5')}, expected {md5} "
                "(torchvision's CIFAR10 list). Delete it and rerun."
            )
    return "official"


def _download(name: str, root: Path) -> None:
    from torchvision.datasets import CIFAR10, MNIST

    cls = {"mnist": MNIST, "cifar10": CIFAR10}[name]
    try:
        for train in (True, False):
            cls(str(root), train=train, download=True)  # torchvision verifies the archive md5
    except Exception as error:  # network errors come in many types (URLError, RuntimeError, ...)
        raise DatasetError(f"download of {name} failed ({error}). " + _how_to_provide(name, root)) from error


def _split(name: str, root: Path, train: bool) -> dict:
    from torchvision.datasets import CIFAR10, MNIST

    if name == "mnist":
        ds = MNIST(str(root), train=train, download=False)
        images = ds.data.unsqueeze(1)
        labels = ds.targets
    else:
        ds = CIFAR10(str(root), train=train, download=False)
        images = torch.from_numpy(ds.data).permute(0, 3, 1, 2)
        labels = torch.tensor(ds.targets)
    return {"images": images.to(torch.uint8).contiguous(), "labels": labels.to(torch.int64)}


def prepare(name: str, out_path: str | Path, *, root: str | Path, download: bool, variants: dict) -> dict:
    """Verify (downloading first if asked) and convert a torchvision root into a prepared archive."""
    if name not in SUPPORTED:
        raise DatasetError(f"unknown dataset {name!r}; allowed: {', '.join(SUPPORTED)}")
    root = Path(root)
    if download:
        _download(name, root)
    variant = verify_mnist(root, variants) if name == "mnist" else verify_cifar10(root)
    archive = {"train": _split(name, root, True), "test": _split(name, root, False)}
    archive["meta"] = {
        "name": name,
        "variant": variant,
        "synthetic": False,
        "source": str(root),
        "n_train": len(archive["train"]["labels"]),
        "n_test": len(archive["test"]["labels"]),
    }
    save_tensors(out_path, archive)
    return archive["meta"]


def synthetic_cifar10(out_path: str | Path, *, n_train: int, n_test: int, seed: int) -> dict:
    """A CIFAR-shaped stand-in (32x32x3 uint8, 10 classes) for tests; its meta says it is synthetic.

    Each class is a fixed smooth random pattern plus pixel noise, so models can learn it.
    """
    gen = torch.Generator().manual_seed(seed)
    prototypes = torch.nn.functional.interpolate(torch.rand(10, 3, 4, 4, generator=gen), size=32, mode="bilinear")

    def draw(n: int) -> dict:
        labels = torch.randint(0, 10, (n,), generator=gen)
        images = prototypes[labels] * 0.6 + 0.4 * torch.rand(n, 3, 32, 32, generator=gen)
        return {"images": (images * 255).round().to(torch.uint8), "labels": labels}

    archive = {"train": draw(n_train), "test": draw(n_test)}
    archive["meta"] = {
        "name": "cifar10",
        "variant": "synthetic-standin",
        "synthetic": True,
        "source": f"advrepro.data.synthetic_cifar10(seed={seed})",
        "n_train": n_train,
        "n_test": n_test,
    }
    save_tensors(out_path, archive)
    return archive["meta"]


def load_split(path: str | Path, split: str, *, limit: int | None = None, device="cpu") -> tuple:
    """(images in [0, 1] as float32, labels, meta) of one split, the first `limit` examples."""
    archive = load_tensors(path)
    if split not in ("train", "test"):
        raise ValueError(f"unknown split {split!r}; allowed: train, test")
    part = archive[split]
    images, labels = part["images"][:limit], part["labels"][:limit]
    return images.to(device).float().div_(255.0), labels.to(device), archive["meta"]
