import shutil

import pytest
import torch
import yaml

from advrepro import data
from conftest import REPO

VARIANTS = yaml.safe_load((REPO / "config" / "datasets.yaml").read_text())["mnist"]


def test_offline_root_is_verified_and_prepared(offline_mnist, tmp_path):
    meta = data.prepare("mnist", tmp_path / "mnist.pt", root=offline_mnist, download=False, variants=VARIANTS)
    assert meta["variant"] == "offline-prefix-14262" and meta["n_train"] == 14262 and meta["n_test"] == 10000
    images, labels, _ = data.load_split(tmp_path / "mnist.pt", "test", limit=100)
    assert images.shape == (100, 1, 28, 28) and images.dtype == torch.float32
    assert 0 <= images.min() and images.max() <= 1 and labels.dtype == torch.int64


def test_corrupt_file_fails_its_checksum(offline_mnist, tmp_path):
    root = tmp_path / "root"
    shutil.copytree(offline_mnist, root)
    path = root / "MNIST" / "raw" / "t10k-labels-idx1-ubyte"
    path.chmod(0o644)
    content = bytearray(path.read_bytes())
    content[100] ^= 0xFF
    path.write_bytes(bytes(content))
    with pytest.raises(data.DatasetError, match=r"checksum mismatch .*t10k-labels-idx1-ubyte"):
        data.prepare("mnist", tmp_path / "mnist.pt", root=root, download=False, variants=VARIANTS)
    assert not (tmp_path / "mnist.pt").exists()


def test_missing_data_says_how_to_provide_it(tmp_path):
    with pytest.raises(data.DatasetError, match=r"torchvision_root=\.\./shared/datasets/mnist-offline"):
        data.prepare("mnist", tmp_path / "mnist.pt", root=tmp_path, download=False, variants=VARIANTS)
    with pytest.raises(data.DatasetError, match=r"CIFAR-10 was not found"):
        data.prepare("cifar10", tmp_path / "cifar10.pt", root=tmp_path, download=False, variants={})


def test_unknown_dataset_is_rejected(tmp_path):
    with pytest.raises(data.DatasetError, match="allowed: mnist, cifar10"):
        data.prepare("svhn", tmp_path / "svhn.pt", root=tmp_path, download=False, variants={})


def test_synthetic_cifar10_stand_in_says_it_is_synthetic(tmp_path):
    meta = data.synthetic_cifar10(tmp_path / "c.pt", n_train=20, n_test=10, seed=0)
    images, labels, loaded = data.load_split(tmp_path / "c.pt", "train")
    assert meta["synthetic"] and loaded["variant"] == "synthetic-standin"
    assert images.shape == (20, 3, 32, 32) and labels.max() < 10
