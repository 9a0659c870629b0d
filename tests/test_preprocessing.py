"""Preprocessing kinds: pylearn2's GCN + ZCA, Shaham et al.'s standardize/pad and YUV + LCN, centered pixels."""

import pytest
import torch

from advrepro import data, preprocessing
from advrepro.preprocessing import apply_zca, fit_zca, global_contrast_normalize, local_contrast_normalize


def _images(n=500, seed=0):
    """n random 3x8x8 images with 0-255 values and correlated pixels (a fixed random mixing)."""
    gen = torch.Generator().manual_seed(seed)
    mixing = torch.eye(192, dtype=torch.float64) + 0.3 * torch.randn(192, 192, generator=gen, dtype=torch.float64)
    flat = torch.randn(n, 192, generator=gen, dtype=torch.float64) @ mixing
    return (128 + 20 * flat).reshape(n, 3, 8, 8)


def _covariance(images):
    x = images.reshape(len(images), -1).double()
    x = x - x.mean(dim=0)
    return x.T @ x / len(x)


def test_gcn_gives_each_image_mean_zero_and_norm_scale():
    images = _images()
    out = global_contrast_normalize(images, scale=55.0)
    assert out.shape == images.shape and out.dtype == torch.float32
    flat = out.reshape(len(out), -1).double()
    assert torch.allclose(flat.mean(dim=1), torch.zeros(len(flat), dtype=torch.float64), atol=1e-5)
    assert torch.allclose(flat.norm(dim=1), torch.full((len(flat),), 55.0, dtype=torch.float64), rtol=1e-5)
    # direction is kept: the centered input divided by its own norm, times 55
    x = images.reshape(len(images), -1)
    x = x - x.mean(dim=1, keepdim=True)
    assert torch.allclose(flat, 55 * x / x.norm(dim=1, keepdim=True), atol=1e-4)
    # pylearn2's min_divisor: a constant image is not divided by ~0, it becomes zeros
    flat_image = global_contrast_normalize(torch.full((1, 3, 8, 8), 200.0))
    assert torch.equal(flat_image, torch.zeros(1, 3, 8, 8))


def test_zca_without_bias_whitens_its_fitting_set():
    images = _images()  # 500 examples > 192 features: full-rank covariance
    assert torch.linalg.cond(_covariance(images)) > 10  # the input is far from white
    mean, matrix = fit_zca(images, filter_bias=0.0)
    assert mean.shape == (192,) and matrix.shape == (192, 192) and matrix.dtype == torch.float64
    assert torch.allclose(matrix, matrix.T, atol=1e-10)
    out = apply_zca(images, mean, matrix)
    assert out.shape == images.shape and out.dtype == torch.float32
    assert torch.allclose(_covariance(out), torch.eye(192, dtype=torch.float64), atol=1e-3)
    assert out.reshape(500, -1).double().mean(dim=0).abs().max() < 1e-4  # centered by the fitted mean


def test_zca_with_filter_bias_matches_the_closed_form():
    images = global_contrast_normalize(_images(seed=1))
    mean, matrix = fit_zca(images, filter_bias=0.1)
    assert torch.allclose(matrix, matrix.T, atol=1e-10)
    assert torch.allclose(mean, images.reshape(500, -1).double().mean(dim=0), atol=1e-5)
    cov = _covariance(images)
    expected = cov @ torch.linalg.inv(cov + 0.1 * torch.eye(192, dtype=torch.float64))
    whitened = _covariance(apply_zca(images, mean, matrix))
    assert torch.allclose(whitened, expected, atol=1e-4)
    # and W itself is (C + bI)^{-1/2}: W @ W @ (C + bI) = I
    product = matrix @ matrix @ (cov + 0.1 * torch.eye(192, dtype=torch.float64))
    assert torch.allclose(product, torch.eye(192, dtype=torch.float64), atol=1e-6)


def test_zca_blocks_give_the_same_result_as_one_pass(monkeypatch):
    images = _images(n=300)
    mean, matrix = fit_zca(images)
    whole = apply_zca(images, mean, matrix)
    monkeypatch.setattr(preprocessing, "_CHUNK", 7)  # 300 = 42 blocks of 7 and one of 6
    mean7, matrix7 = fit_zca(images)
    assert torch.allclose(mean7, mean) and torch.allclose(matrix7, matrix, atol=1e-8)
    assert torch.allclose(apply_zca(images, mean7, matrix7), whole, atol=1e-4)


def test_preprocess_end_to_end_on_the_synthetic_stand_in(tmp_path, capsys):
    raw = tmp_path / "c.pt"
    data.synthetic_cifar10(raw, n_train=400, n_test=50, seed=0)
    meta = preprocessing.preprocess(raw, tmp_path / "c_gcn_zca.pt", "gcn_zca")
    assert "fitting ZCA" in capsys.readouterr().err
    archive = torch.load(tmp_path / "c_gcn_zca.pt", weights_only=True)
    source = torch.load(raw, weights_only=True)
    for split, n in (("train", 400), ("test", 50)):
        assert archive[split]["images"].shape == (n, 3, 32, 32)
        assert archive[split]["images"].dtype == torch.float32
        assert torch.equal(archive[split]["labels"], source[split]["labels"])
    assert meta == archive["meta"]
    assert meta["synthetic"] is True and meta["variant"] == "synthetic-standin" and meta["name"] == "cifar10"
    assert meta["n_train"] == 400 and meta["n_test"] == 50
    assert meta["preprocessing"] == {"kind": "gcn_zca", "gcn_scale": 55.0, "zca_filter_bias": 0.1,
                                     "fit_on": "train (400 images)"}
    # the output equals GCN then ZCA fit on all training images
    gcn_train = global_contrast_normalize(source["train"]["images"].float())
    mean, matrix = fit_zca(gcn_train, filter_bias=0.1)
    expected = apply_zca(global_contrast_normalize(source["test"]["images"].float()), mean, matrix)
    assert torch.allclose(archive["test"]["images"], expected, atol=1e-3)
    assert archive["train"]["images"].reshape(400, -1).double().mean(dim=0).abs().max() < 1e-4
    # load_split hands preprocessed images back unchanged (no /255)
    images, labels, loaded = data.load_split(tmp_path / "c_gcn_zca.pt", "train", limit=100)
    assert images.dtype == torch.float32 and torch.equal(images, archive["train"]["images"][:100])
    assert images.min() < 0 and loaded["preprocessing"]["kind"] == "gcn_zca"
    # a prepared (uint8) archive is still scaled to [0, 1]
    raw_images, _, _ = data.load_split(raw, "train", limit=10)
    assert torch.equal(raw_images, source["train"]["images"][:10].float() / 255)


def test_preprocess_rejects_unknown_kinds_and_preprocessed_input(tmp_path):
    raw = tmp_path / "c.pt"
    data.synthetic_cifar10(raw, n_train=300, n_test=10, seed=0)
    with pytest.raises(ValueError, match="unknown preprocessing 'zca_only'; allowed: centered, gcn_zca"):
        preprocessing.preprocess(raw, tmp_path / "out.pt", "zca_only")
    assert not (tmp_path / "out.pt").exists()
    preprocessing.preprocess(raw, tmp_path / "once.pt", "gcn_zca")
    with pytest.raises(ValueError, match="already preprocessed"):
        preprocessing.preprocess(tmp_path / "once.pt", tmp_path / "twice.pt", "gcn_zca")


def test_standardize_pad32_uses_each_splits_own_statistics_then_pads_with_zeros():
    """Shaham et al. 2015 (torch demo normalizeGlobal): train and test each standardized with their own
    mean and std, then the 28x28 digit pasted into a 32x32 zero patch."""
    gen = torch.Generator().manual_seed(0)
    train = torch.randint(0, 256, (50, 1, 28, 28), generator=gen, dtype=torch.uint8)
    test = (torch.randint(0, 128, (20, 1, 28, 28), generator=gen) + 100).to(torch.uint8)  # other statistics
    out_train, out_test, record, _ = preprocessing.standardize_pad32(train, test)
    for raw, out, stats in ((train, out_train, record["train_stats"]), (test, out_test, record["test_stats"])):
        assert out.shape == (len(raw), 1, 32, 32) and out.dtype == torch.float32
        inner = out[:, :, 2:30, 2:30].double()
        assert abs(inner.mean().item()) < 1e-5 and abs(inner.std().item() - 1) < 1e-5
        assert abs(stats["mean"] - raw.double().mean().item()) < 1e-9
        border = out.clone()
        border[:, :, 2:30, 2:30] = 0
        assert torch.equal(border, torch.zeros_like(border))
    assert record["train_stats"]["mean"] != record["test_stats"]["mean"]


def test_yuv_normalizes_y_locally_and_u_v_with_training_statistics(tmp_path):
    """cifar.torch provider.lua: RGB -> YUV, LCN on Y, U and V standardized with the TRAINING mean/std."""
    raw = tmp_path / "c.pt"
    data.synthetic_cifar10(raw, n_train=200, n_test=40, seed=0)
    meta = preprocessing.preprocess(raw, tmp_path / "c_yuv.pt", "yuv")
    archive = torch.load(tmp_path / "c_yuv.pt", weights_only=True)
    source = torch.load(raw, weights_only=True)
    train, test = archive["train"]["images"].double(), archive["test"]["images"].double()
    for channel in (1, 2):
        assert abs(train[:, channel].mean().item()) < 1e-5 and abs(train[:, channel].std().item() - 1) < 1e-5
    rgb = source["test"]["images"].double()
    u = (-0.14713 * rgb[:, 0] + -0.28886 * rgb[:, 1] + 0.436 * rgb[:, 2])
    stats = meta["preprocessing"]["uv_stats_from_train"]["u"]
    torch.testing.assert_close(test[:, 1], (u - stats["mean"]) / stats["std"], atol=1e-4, rtol=1e-4)
    y = 0.299 * rgb[:, :1] + 0.587 * rgb[:, 1:2] + 0.114 * rgb[:, 2:]
    torch.testing.assert_close(test[:, :1], local_contrast_normalize(y), atol=1e-4, rtol=1e-4)
    assert torch.equal(archive["test"]["labels"], source["test"]["labels"])


def test_local_contrast_normalization_removes_local_mean_and_scale():
    gen = torch.Generator().manual_seed(0)
    y = torch.rand(4, 1, 32, 32, generator=gen, dtype=torch.float64)
    out = local_contrast_normalize(y)
    torch.testing.assert_close(local_contrast_normalize(3 * y + 7), out)  # invariant to gain and offset
    torch.testing.assert_close(local_contrast_normalize(torch.full_like(y, 5.0)), torch.zeros_like(y))
