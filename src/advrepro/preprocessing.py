"""Preprocessing of a prepared dataset archive into a new one (`{dataset}_{kind}`), one registered kind
per paper's input pipeline: pylearn2's GCN + ZCA (Lyu, Goodfellow), Shaham et al.'s standardize/pad and
YUV + LCN, MatConvNet's centered pixels (Tanay & Griffin).

A kind is (train images, test images, **options) -> Preprocessed; its options' defaults are the papers'
settings, and its `shape` attribute (if any) maps the raw input shape to the preprocessed one.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import NamedTuple

import torch

from advrepro.io import load_tensors, save_tensors
from advrepro.kinds import Kinds

_CHUNK = 4096  # images per block in the preprocessing passes (4096 x 3072 float64 = 100 MB)


class Preprocessed(NamedTuple):
    """Preprocessed float32 train and test images, what to record in the archive's meta, and tensors the
    archive keeps beside the splits (e.g. the subtracted pixel mean)."""

    train: torch.Tensor
    test: torch.Tensor
    record: dict
    tensors: dict = {}


PREPROCESSING = Kinds("preprocessing", fixed=("train", "test"))


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


@PREPROCESSING.register(shape=lambda shape: (shape[0], 32, 32))
def standardize_pad32(train: torch.Tensor, test: torch.Tensor) -> Preprocessed:
    """Shaham et al. 2015's MNIST input (RobustTraining, torch/demos dataset-mnist.lua normalizeGlobal):
    each split standardized with its OWN global mean and std (the test split re-normalized with its
    own statistics, as their code does), then the 28x28 image pasted into a 32x32 zero patch."""
    def one(images: torch.Tensor) -> tuple[torch.Tensor, dict]:
        x = images.to(torch.float64)
        mean, std = x.mean().item(), x.std().item()
        pad = (32 - x.shape[-1]) // 2
        return torch.nn.functional.pad((x - mean) / std, (pad,) * 4).to(torch.float32), {"mean": mean, "std": std}

    (train, train_stats), (test, test_stats) = one(train), one(test)
    return Preprocessed(train, test, {"train_stats": train_stats, "test_stats": test_stats, "pad_to": 32})


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


@PREPROCESSING.register()
def yuv(train: torch.Tensor, test: torch.Tensor) -> Preprocessed:
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
    return Preprocessed(train.to(torch.float32), test.to(torch.float32), {"uv_stats_from_train": stats, "lcn_kernel": 7})


@PREPROCESSING.register()
def gcn_zca(train: torch.Tensor, test: torch.Tensor, scale: float = 55.0, filter_bias: float = 0.1) -> Preprocessed:
    """pylearn2's `scripts/datasets/make_cifar10_gcn_whitened.py` (V): global contrast normalization (scale 55)
    of the raw 0-255 train and test images, then ZCA with `filter_bias` fit on ALL training images and applied
    to both splits."""
    print(f"global contrast normalization (scale {scale}) of {len(train)} train and {len(test)} test images",
          file=sys.stderr)
    train, test = global_contrast_normalize(train, scale=scale), global_contrast_normalize(test, scale=scale)
    print(f"fitting ZCA (filter_bias {filter_bias}) on all {len(train)} training images ({train[0].numel()} "
          "features)", file=sys.stderr)
    mean, matrix = fit_zca(train, filter_bias=filter_bias)
    print("applying ZCA to train and test", file=sys.stderr)
    record = {"gcn_scale": float(scale), "zca_filter_bias": float(filter_bias), "fit_on": f"train ({len(train)} images)"}
    return Preprocessed(apply_zca(train, mean, matrix), apply_zca(test, mean, matrix), record)


@PREPROCESSING.register()
def centered(train: torch.Tensor, test: torch.Tensor) -> Preprocessed:
    """MatConvNet cnn_mnist (setups.md 5.2, Tanay & Griffin 2016): raw 0-255 pixels minus the per-pixel mean of
    the training images, unscaled; the mean is kept in the archive ("pixel_mean") to map back to 0-255 pixels."""
    mean = train.float().mean(0)
    return Preprocessed(train.float() - mean, test.float() - mean, {"fit_on": f"train ({len(train)} images)"},
                        {"pixel_mean": mean})


def preprocess(in_path: str | Path, out_path: str | Path, kind: str, **options) -> dict:
    """Write the preprocessed copy of a prepared archive (same layout, float32 images, labels unchanged)
    and return its meta: the input's (name, variant and synthetic flag kept) plus a "preprocessing" record."""
    function = PREPROCESSING.lookup(kind)
    archive = load_tensors(in_path)
    meta = dict(archive["meta"])
    if "preprocessing" in meta:
        raise ValueError(f"{in_path} is already preprocessed ({meta['preprocessing']}); give a prepared archive")
    done = function(archive["train"]["images"], archive["test"]["images"], **options)
    meta["preprocessing"] = {"kind": kind, **done.record}
    save_tensors(out_path, {"train": {"images": done.train, "labels": archive["train"]["labels"]},
                            "test": {"images": done.test, "labels": archive["test"]["labels"]}, "meta": meta,
                            **done.tensors})
    print(f"{meta.get('name', 'dataset')}: wrote {out_path} ({kind})", file=sys.stderr)
    return meta
