"""Datasets: torchvision download with checksums -> one prepared tensor archive per dataset.

A prepared archive is a dict {"train": {"images", "labels"}, "test": {...}, "meta": {...}} of
uint8 NCHW images and int64 labels (official train/test split), loaded in one call.
A preprocessed archive (see `preprocess`) has the same layout with float32 images.
"""

from __future__ import annotations

import sys
from pathlib import Path

import torch

from advrepro.checksums import digest
from advrepro.io import load_tensors, save_tensors

SUPPORTED = ("mnist", "cifar10")
PREPROCESSING_KINDS = ("gcn_zca", "standardize_pad32", "yuv", "pixel_mean_255")
_CHUNK = 4096  # images per block in the preprocessing passes (4096 x 3072 float64 = 100 MB)


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
                f"checksum mismatch for {path}: md5 {digest(path, 'md5')}, expected {md5} "
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


def _blocks(images: torch.Tensor, chunk: int | None = None):
    """Consecutive blocks of `chunk` (default `_CHUNK`) images flattened to (n, features), as float64."""
    chunk = chunk or _CHUNK
    for start in range(0, len(images), chunk):
        block = images[start:start + chunk]
        yield block.reshape(len(block), -1).to(torch.float64)


def global_contrast_normalize(images: torch.Tensor, scale: float = 55.0, eps: float = 1e-8) -> torch.Tensor:
    """Per-image global contrast normalization, as pylearn2 does it for CIFAR-10.

    Copies pylearn2 `expr/preprocessing.py:global_contrast_normalize(X, scale=55., use_std=False,
    sqrt_bias=0, min_divisor=1e-8)` (called by `datasets/cifar10.py` with `gcn=55.`): each image,
    flattened, has its mean subtracted and is divided by `norm / scale` (its L2 norm over `scale`),
    so it ends with mean 0 and L2 norm `scale`. A divisor below `eps` (pylearn2's min_divisor, compared
    with `norm / scale` as there) is replaced by 1, so a constant image becomes all zeros.
    Input: raw 0-255 pixel values (any dtype; NOT divided by 255). Output: float32, same shape.
    """
    out = torch.empty(images.shape, dtype=torch.float32)
    flat_out = out.view(len(images), -1)
    start = 0
    for x in _blocks(images):
        x = x - x.mean(dim=1, keepdim=True)
        divisor = x.norm(dim=1, keepdim=True) / scale
        divisor = torch.where(divisor < eps, torch.ones_like(divisor), divisor)
        flat_out[start:start + len(x)] = (x / divisor).to(torch.float32)
        start += len(x)
    return out


def fit_zca(images: torch.Tensor, filter_bias: float = 0.1) -> tuple[torch.Tensor, torch.Tensor]:
    """(mean, whitening matrix W) of pylearn2's ZCA, fit on every image given, in float64.

    Copies pylearn2 `datasets/preprocessing.py:ZCA.fit` (default `filter_bias=0.1`, as used by
    `scripts/datasets/make_cifar10_gcn_whitened.py`): mean over examples; covariance of the centered
    data divided by n; eigendecomposition V diag(e) V^T of `cov + filter_bias * I`;
    W = V diag(1 / sqrt(e)) V^T (so e already includes the bias). Then (x - mean) @ W has covariance
    C (C + filter_bias I)^{-1} on the fitting set: the identity when filter_bias is 0 and C is full rank.
    Returns mean of shape (features,) and W of shape (features, features), both float64.
    """
    n = len(images)
    if n == 0:
        raise ValueError("fit_zca needs at least one image")
    features = images[0].numel()
    mean = torch.zeros(features, dtype=torch.float64)
    for x in _blocks(images):
        mean += x.sum(dim=0)
    mean /= n
    cov = torch.zeros(features, features, dtype=torch.float64)
    for x in _blocks(images):
        x = x - mean
        cov.addmm_(x.T, x)
    cov /= n
    cov.diagonal().add_(filter_bias)
    eigenvalues, eigenvectors = torch.linalg.eigh(cov)
    if eigenvalues.min() <= 0:  # pylearn2 asserts eigs.min() > 0 here
        raise ValueError(
            f"covariance + filter_bias*I is not positive definite (smallest eigenvalue "
            f"{eigenvalues.min().item():.3g}); use filter_bias > 0 or more images than features"
        )
    matrix = (eigenvectors * eigenvalues.rsqrt()) @ eigenvectors.T
    return mean, matrix


def apply_zca(images: torch.Tensor, mean: torch.Tensor, matrix: torch.Tensor) -> torch.Tensor:
    """(x - mean) @ W per flattened image (pylearn2 `ZCA.apply`), in blocks; float32, input's shape."""
    out = torch.empty(images.shape, dtype=torch.float32)
    flat_out = out.view(len(images), -1)
    mean, matrix = mean.to(torch.float64), matrix.to(torch.float64)
    start = 0
    for x in _blocks(images):
        flat_out[start:start + len(x)] = ((x - mean) @ matrix).to(torch.float32)
        start += len(x)
    return out


def standardize_pad32(train: torch.Tensor, test: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, dict]:
    """Shaham et al. 2015's MNIST input (RobustTraining, torch/demos dataset-mnist.lua normalizeGlobal):
    each split standardized with its OWN global mean and std (the test split re-normalized with its
    own statistics, as their code does), then the 28x28 image pasted into a 32x32 zero patch."""
    def one(images: torch.Tensor) -> tuple[torch.Tensor, dict]:
        x = images.to(torch.float64)
        mean, std = x.mean().item(), x.std().item()
        pad = (32 - x.shape[-1]) // 2
        return torch.nn.functional.pad((x - mean) / std, (pad,) * 4).to(torch.float32), {"mean": mean, "std": std}

    (train, train_stats), (test, test_stats) = one(train), one(test)
    return train, test, {"train_stats": train_stats, "test_stats": test_stats, "pad_to": 32}


def _local_mean(x: torch.Tensor, kernel: torch.Tensor) -> torch.Tensor:
    """Kernel-weighted local mean over zero-padded borders, corrected by the kernel mass inside the image
    (Torch7 nn.SpatialSubtractiveNormalization's `coef`)."""
    pad = kernel.shape[-1] // 2
    coef = torch.nn.functional.conv2d(torch.ones_like(x[:1]), kernel, padding=pad)
    return torch.nn.functional.conv2d(x, kernel, padding=pad) / coef


def local_contrast_normalize(y: torch.Tensor, size: int = 7, eps: float = 1e-4) -> torch.Tensor:
    """Torch7 nn.SpatialContrastiveNormalization(1, image.gaussian1D(7)) on (N, 1, H, W): subtract the
    Gaussian-weighted local mean, divide by the local standard deviation, floored by its mean over the
    image (and by eps). The kernel is exp(-((i - c) / (0.25 size))^2 / 2), normalized to sum 1."""
    i = torch.arange(1, size + 1, dtype=torch.float64)
    g = torch.exp(-0.5 * ((i - (size / 2 + 0.5)) / (0.25 * size)) ** 2)
    kernel = torch.outer(g, g).div_(g.sum() ** 2).view(1, 1, size, size)
    centered = y - _local_mean(y, kernel)
    std = _local_mean(centered.pow(2), kernel).sqrt()
    floor = std.mean(dim=(1, 2, 3), keepdim=True).clamp_min(eps)
    return centered / torch.maximum(std, floor)


RGB_TO_YUV = torch.tensor([[0.299, 0.587, 0.114], [-0.14713, -0.28886, 0.436], [0.615, -0.51499, -0.10001]],
                          dtype=torch.float64)
"""Torch7 image.rgb2yuv."""


def yuv(train: torch.Tensor, test: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, dict]:
    """cifar.torch provider.lua (Shaham et al. 2015, section 5.2): RGB (0-255) -> YUV, local contrast
    normalization of Y (Gaussian kernel 7), U and V standardized with the TRAINING split's mean and std."""
    def convert(images: torch.Tensor) -> torch.Tensor:
        out = torch.empty(images.shape, dtype=torch.float64)
        for start in range(0, len(images), _CHUNK):
            block = torch.einsum("yc,nchw->nyhw", RGB_TO_YUV, images[start:start + _CHUNK].to(torch.float64))
            block[:, :1] = local_contrast_normalize(block[:, :1])
            out[start:start + len(block)] = block
        return out

    train, test = convert(train), convert(test)
    stats = {}
    for channel, name in ((1, "u"), (2, "v")):
        mean, std = train[:, channel].mean().item(), train[:, channel].std().item()
        for split in (train, test):
            split[:, channel] = (split[:, channel] - mean) / std
        stats[name] = {"mean": mean, "std": std}
    return train.to(torch.float32), test.to(torch.float32), {"uv_stats_from_train": stats, "lcn_kernel": 7}


SPLIT_PREPROCESSING = {"standardize_pad32": standardize_pad32, "yuv": yuv}
"""Preprocessing kinds that map (train, test) raw images to (train, test, record)."""


def preprocess(in_path: str | Path, out_path: str | Path, *, kind: str = "gcn_zca", scale: float = 55.0,
               filter_bias: float = 0.1) -> dict:
    """Write a preprocessed copy of a prepared archive; return its meta.

    kinds "standardize_pad32" and "yuv": see SPLIT_PREPROCESSING (Shaham et al. 2015's inputs).

    kind "gcn_zca" is pylearn2's `scripts/datasets/make_cifar10_gcn_whitened.py`: global contrast
    normalization (scale 55) of the raw 0-255 train and test images, then ZCA with `filter_bias`
    fit on ALL training images and applied to both splits. The output has the input's layout
    (float32 images, labels unchanged); its meta is the input's (name, variant and synthetic flag
    kept) plus a "preprocessing" record.
    """
    if kind not in PREPROCESSING_KINDS:
        raise ValueError(f"unknown preprocessing kind {kind!r}; allowed: {', '.join(PREPROCESSING_KINDS)}")
    archive = load_tensors(in_path)
    meta = dict(archive["meta"])
    if "preprocessing" in meta:
        raise ValueError(f"{in_path} is already preprocessed ({meta['preprocessing']}); give a prepared archive")
    if kind == "pixel_mean_255":
        return _subtract_pixel_mean(archive, meta, out_path)
    name = meta.get("name", "dataset")
    if kind in SPLIT_PREPROCESSING:
        train, test, record = SPLIT_PREPROCESSING[kind](archive["train"]["images"], archive["test"]["images"])
        meta["preprocessing"] = {"kind": kind, **record}
        save_tensors(out_path, {"train": {"images": train, "labels": archive["train"]["labels"]},
                                "test": {"images": test, "labels": archive["test"]["labels"]}, "meta": meta})
        print(f"{name}: wrote {out_path} ({kind})", file=sys.stderr)
        return meta
    n_train = len(archive["train"]["images"])
    print(f"{name}: global contrast normalization (scale {scale}) of {n_train} train and "
          f"{len(archive['test']['images'])} test images", file=sys.stderr)
    train = global_contrast_normalize(archive["train"]["images"], scale=scale)
    test = global_contrast_normalize(archive["test"]["images"], scale=scale)
    print(f"{name}: fitting ZCA (filter_bias {filter_bias}) on all {n_train} training images "
          f"({train[0].numel()} features)", file=sys.stderr)
    mean, matrix = fit_zca(train, filter_bias=filter_bias)
    print(f"{name}: applying ZCA to train and test", file=sys.stderr)
    out = {
        "train": {"images": apply_zca(train, mean, matrix), "labels": archive["train"]["labels"]},
        "test": {"images": apply_zca(test, mean, matrix), "labels": archive["test"]["labels"]},
    }
    del train, test
    meta["preprocessing"] = {
        "kind": kind,
        "gcn_scale": float(scale),
        "zca_filter_bias": float(filter_bias),
        "fit_on": f"train ({n_train} images)",
    }
    out["meta"] = meta
    save_tensors(out_path, out)
    print(f"{name}: wrote {out_path}", file=sys.stderr)
    return meta


def _subtract_pixel_mean(archive: dict, meta: dict, out_path) -> dict:
    """MatConvNet cnn_mnist (setups.md 5.2): raw 0-255 pixels minus the per-pixel mean of the training
    images, unscaled; the mean is kept in the archive ("pixel_mean") to map back to 0-255 pixels."""
    mean = archive["train"]["images"].float().mean(0)
    out = {split: {"images": archive[split]["images"].float() - mean, "labels": archive[split]["labels"]}
           for split in ("train", "test")}
    meta["preprocessing"] = {"kind": "pixel_mean_255", "fit_on": f"train ({len(out['train']['images'])} images)"}
    out["meta"], out["pixel_mean"] = meta, mean
    save_tensors(out_path, out)
    return meta


def pixel_mean(path: str | Path, device="cpu") -> torch.Tensor:
    """The training mean (0-255 units) a pixel_mean_255 archive subtracted."""
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


def select_classes(images: torch.Tensor, labels: torch.Tensor, classes: list[int]) -> tuple:
    """The examples of `classes` only, relabelled 0..len(classes)-1 in the order given
    (Goodfellow et al. 2014, Fig. 2: MNIST 3s against 7s, 3 -> 0 and 7 -> 1)."""
    classes_t = torch.as_tensor(classes, device=labels.device)
    if len(set(classes)) != len(classes) or len(classes) < 2:
        raise ValueError(f"classes must name at least two distinct labels, got {classes}")
    keep = (labels.unsqueeze(1) == classes_t).any(1)
    relabelled = (labels[keep].unsqueeze(1) == classes_t).int().argmax(1)
    return images[keep], relabelled
