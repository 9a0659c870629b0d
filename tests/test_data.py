import shutil

import pytest
import torch
import yaml

from advrepro import checksums, data
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
    expected = VARIANTS["offline-prefix-14262"]["sha256"]["t10k-labels-idx1-ubyte"]
    with pytest.raises(data.DatasetError, match=rf"checksum mismatch .*t10k-labels-idx1-ubyte: sha256 [0-9a-f]{{64}}, "
                                                rf"expected {expected}"):
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


def test_select_classes_keeps_and_relabels_in_the_order_given():
    images = torch.arange(10).float().view(10, 1, 1, 1)
    labels = torch.tensor([3, 7, 1, 7, 3, 0, 7, 3, 9, 3])
    kept, relabelled = data.select_classes(images, labels, [3, 7])
    assert kept.flatten().tolist() == [0, 1, 3, 4, 6, 7, 9]
    assert relabelled.tolist() == [0, 1, 1, 0, 1, 0, 0]
    with pytest.raises(ValueError, match="distinct"):
        data.select_classes(images, labels, [3, 3])


def test_the_same_files_under_another_spelling_or_path_have_the_same_digest(offline_mnist, tmp_path):
    copy = tmp_path / "copy"
    shutil.copytree(offline_mnist, copy)
    spellings = [offline_mnist, f"{offline_mnist}/", offline_mnist.resolve(), copy]
    digests = [checksums.raw_digest("mnist", root) for root in spellings]
    assert len(digests[0]) == 4 and all(d == digests[0] for d in digests)
    (copy / "MNIST" / "raw" / "t10k-labels-idx1-ubyte").write_bytes(b"other")
    assert checksums.raw_digest("mnist", copy) != digests[0]
