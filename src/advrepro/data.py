"""Datasets: torchvision download with checksums -> one prepared tensor archive per dataset; the splits
and subsets that training and evaluation read from it.

A prepared archive is a dict {"train": {"images", "labels"}, "test": {...}, "meta": {...}} of
uint8 NCHW images and int64 labels (official train/test split), loaded in one call.
A preprocessed archive (advrepro.preprocessing) has the same layout with float32 images. A dataset
name is a raw dataset (DATASETS) or `<raw>_<preprocessing kind>`.
"""

from __future__ import annotations

import sys
from pathlib import Path

import torch

from advrepro.checksums import digest
from advrepro.io import load_tensors, save_tensors
from advrepro.kinds import Kinds

DATASETS = Kinds("dataset", fixed=("root", "train", "download"))
"""Raw datasets: (torchvision root, train split?, download?) -> {"images": uint8 NCHW, "labels": int64};
attributes `shape` (C, H, W) and `verify` (root, known copies) -> the variant of the files found."""


class DatasetError(RuntimeError):
    """A dataset is missing, corrupt or unknown; the message says how to fix it."""


def _how_to_provide(name: str, where: Path) -> str:
    return (
        f"{name} was not found under {where}. Either let the workflow download it "
        "(leave `torchvision_root: null` in config/config.yaml; needs internet), or point it at "
        "an existing torchvision root, e.g. `snakemake --config "
        "torchvision_root=../shared/datasets/mnist-offline` (MNIST only)."
    )


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
            actual = digest(raw / f"{n}.gz", "md5")
            if actual != official[f"{n}.gz"]:
                raise DatasetError(
                    f"checksum mismatch for {raw / (n + '.gz')}: md5 {actual}, expected "
                    f"{official[n + '.gz']} (torchvision's MNIST.resources). Delete it and rerun."
                )
        return "official"
    actual = {n: digest(raw / n, "sha256") for n in names}
    for variant, spec in variants.items():
        if all(spec["sha256"].get(n) == actual[n] for n in names):
            return variant
    if not variants:
        raise DatasetError(f"{raw} holds uncompressed MNIST files without their official .gz files, and no known "
                           "copy is listed in config/datasets.yaml to check them against: add the .gz files.")
    closest = max(variants, key=lambda v: sum(variants[v]["sha256"].get(n) == actual[n] for n in names))
    expected = variants[closest]["sha256"]
    bad = [n for n in names if expected.get(n) != actual[n]]
    raise DatasetError(
        f"checksum mismatch under {raw}: "
        + "; ".join(f"{n}: sha256 {actual[n]}, expected {expected.get(n)}" for n in bad)
        + f" (the closest known copy, {closest!r} in config/datasets.yaml; official copies come with their .gz "
        "files). The file is corrupt or an unknown copy: re-download it, or list the copy in config/datasets.yaml."
    )


def verify_cifar10(root: Path, variants: dict) -> str:
    """Check every CIFAR-10 batch against torchvision's md5 list; return "official" (no other copies are known:
    `variants` is empty)."""
    from torchvision.datasets import CIFAR10
    from torchvision.datasets.utils import check_integrity

    folder = root / CIFAR10.base_folder
    for filename, md5 in CIFAR10.train_list + CIFAR10.test_list:
        path = folder / filename
        if not path.exists():
            raise DatasetError(_how_to_provide("CIFAR-10", folder) + f" Missing: {filename}.")
        if not check_integrity(str(path), md5):
            raise DatasetError(
                f"checksum mismatch for {path}: md5 {digest(path, 'md5')}, expected {md5} "
                "(torchvision's CIFAR10 list). Delete it and rerun."
            )
    return "official"


@DATASETS.register(shape=(1, 28, 28), verify=verify_mnist)
def mnist(root: Path, train: bool, download: bool) -> dict:
    """MNIST through torchvision (which checks the archives' md5 when it downloads them)."""
    from torchvision.datasets import MNIST

    split = MNIST(str(root), train=train, download=download)
    return {"images": split.data.unsqueeze(1).to(torch.uint8).contiguous(), "labels": split.targets.to(torch.int64)}


@DATASETS.register(shape=(3, 32, 32), verify=verify_cifar10)
def cifar10(root: Path, train: bool, download: bool) -> dict:
    """CIFAR-10 through torchvision (which checks the archive's md5 when it downloads it)."""
    from torchvision.datasets import CIFAR10

    split = CIFAR10(str(root), train=train, download=download)
    return {"images": torch.from_numpy(split.data).permute(0, 3, 1, 2).to(torch.uint8).contiguous(),
            "labels": torch.tensor(split.targets).to(torch.int64)}


def prepare(name: str, out_path: str | Path, *, root: str | Path, download: bool, variants: dict) -> dict:
    """Verify (downloading first if asked) and convert a torchvision root into a prepared archive."""
    if name not in DATASETS:
        raise DatasetError(f"unknown dataset {name!r}; allowed: {', '.join(DATASETS)}")
    read, root = DATASETS[name], Path(root)
    if download:
        try:
            for train in (True, False):
                read(root, train, download=True)
        except Exception as error:  # network errors come in many types (URLError, RuntimeError, ...)
            raise DatasetError(f"download of {name} failed ({error}). " + _how_to_provide(name, root)) from error
    variant = read.verify(root, variants)
    archive = {"train": read(root, True, download=False), "test": read(root, False, download=False)}
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


def pixel_mean(path: str | Path, meta: dict, device="cpu") -> torch.Tensor | None:
    """The training mean (0-255 units) a `centered` archive (its `meta`) subtracted; None for other archives."""
    if meta.get("preprocessing", {}).get("kind") != "centered":
        return None
    return load_tensors(path)["pixel_mean"].to(device)


def load_split(path: str | Path, split: str, *, limit: int | None = None, device="cpu") -> tuple:
    """(images as float32, labels, meta) of one split, the first `limit` examples.

    uint8 images (a prepared archive) are scaled to [0, 1]; float images (a preprocessed archive,
    see `preprocess`) are returned unchanged as float32.
    """
    archive = load_tensors(path)
    if split not in ("train", "test"):
        raise ValueError(f"unknown split {split!r}; allowed: train, test")
    part = archive[split]
    images, labels = part["images"][:limit], part["labels"][:limit]
    if images.is_floating_point():
        return images.to(device=device, dtype=torch.float32), labels.to(device), archive["meta"]
    return images.to(device).float().div_(255.0), labels.to(device), archive["meta"]


def split_size(path: str | Path, split: str) -> int:
    """The number of examples in one split of a dataset archive (a probe scales its epoch to the paper's size)."""
    return len(load_tensors(path)[split]["labels"])


def select_classes(images: torch.Tensor, labels: torch.Tensor, classes: list[int]) -> tuple:
    """The examples of `classes` only, relabelled 0..len(classes)-1 in the order given
    (Goodfellow et al. 2014, Fig. 2: MNIST 3s against 7s, 3 -> 0 and 7 -> 1)."""
    classes_t = torch.as_tensor(classes, device=labels.device)
    if len(set(classes)) != len(classes) or len(classes) < 2:
        raise ValueError(f"classes must name at least two distinct labels, got {classes}")
    keep = (labels.unsqueeze(1) == classes_t).any(1)
    relabelled = (labels[keep].unsqueeze(1) == classes_t).int().argmax(1)
    return images[keep], relabelled


def held_out_split(n: int, protocol: dict) -> int:
    """Number of leading examples trained on in the first stage; the rest is held out (pylearn2
    takes the last 10k of MNIST's 60k and of CIFAR-10's 50k as validation)."""
    held_out = round(n * protocol["validation_fraction"])
    if not 0 < held_out < n:
        raise ValueError(f"validation_fraction {protocol['validation_fraction']} leaves no examples on one side of {n}")
    return n - held_out


def training_examples(path: str | Path, spec: dict, device="cpu") -> tuple:
    """(images, labels, meta) a registry model trains on: the first `train_examples` of the training split,
    only its `classes` (relabelled) if it names them."""
    images, labels, meta = load_split(path, "train", limit=spec["train_examples"], device=device)
    if "classes" in spec:
        images, labels = select_classes(images, labels, spec["classes"])
    return images, labels, meta


def evaluation_examples(path: str | Path, spec: dict, model_spec: dict, device="cpu",
                        adversarial_set: dict | None = None) -> tuple:
    """(images, labels, meta) an evaluation `spec` of a model runs on, by its split: the members of a fixed
    adversarial set; the first `examples` test images; the model's training examples ("train"), or their
    held-out tail that its first stage validated on ("validation"). Only the model's classes, relabelled."""
    if spec["split"] == "adversarial_set":
        return adversarial_set["images"], adversarial_set["labels"], load_tensors(path)["meta"]
    images, labels, meta = load_split(path, "test" if spec["split"] == "test" else "train", limit=spec["examples"],
                                      device=device)
    if "classes" in model_spec:
        images, labels = select_classes(images, labels, model_spec["classes"])
    if spec["split"] == "validation":
        start = held_out_split(len(labels), model_spec["training"]["protocol"])
        images, labels = images[start:], labels[start:]
    return images, labels, meta
