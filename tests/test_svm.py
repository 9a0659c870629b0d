"""The SVM path solver against liblinear, and the boundary-tilting closed forms on the models it trains
(Tanay & Griffin 2016)."""

import warnings

import numpy as np
import pytest
import torch

from advrepro import svm, theory

LAMBDAS = torch.tensor([0.03, 1.0, 30.0, 1000.0], dtype=torch.float64)


@pytest.fixture(scope="module")
def data():
    """Two overlapping balanced Gaussian classes (y = -1, +1) in 12 dimensions, float64."""
    gen = torch.Generator().manual_seed(0)
    n, d = 150, 12
    shift = torch.linspace(0.2, 1.0, d, dtype=torch.float64)
    x = torch.cat([torch.randn(n, d, generator=gen, dtype=torch.float64) - shift,
                   torch.randn(n, d, generator=gen, dtype=torch.float64) + shift])
    y = torch.cat([-torch.ones(n), torch.ones(n)]).double()
    return x, y


@pytest.fixture(scope="module")
def trained(data):
    x, y = data
    return svm.path(x, y, LAMBDAS, hinge="sum", tol=1e-10)


@pytest.mark.parametrize("hinge", ["sum", "mean"])
def test_objective_matches_liblinear_linear_svc(data, hinge):
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.svm import LinearSVC

    x, y = data
    ours = svm.path(x, y, LAMBDAS, hinge=hinge, tol=1e-9)
    a = svm.augment(x, y, 1.0)
    c = svm.penalty_weight(LAMBDAS, len(x), hinge)
    for k, lam in enumerate(LAMBDAS.tolist()):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            fit = LinearSVC(loss="hinge", C=float(c[k]), tol=1e-10, max_iter=1_000_000, intercept_scaling=1.0,
                            random_state=0).fit(x.numpy(), y.numpy())
        u = torch.tensor(np.r_[fit.coef_[0], fit.intercept_[0]])
        theirs = 2 * lam * svm.liblinear_objectives(u[None], a, c[k:k + 1])[0]
        assert ours["objective"][k] == pytest.approx(float(theirs), rel=1e-4), lam
        # E is what the docstring states: lambda ||w||^2 + lambda b^2 (s = 1) + the summed or mean hinge
        w, b = ours["w"][k], ours["b"][k]
        hinge_terms = (1 - y * (x @ w + b)).clamp(min=0)
        stated = lam * (w @ w + b * b) + (hinge_terms.sum() if hinge == "sum" else hinge_terms.mean())
        assert float(ours["objective"][k]) == pytest.approx(float(stated), rel=1e-12)


@pytest.mark.parametrize("refine_solves", [0, 8])
def test_warm_started_path_equals_each_lambda_solved_alone(data, refine_solves):
    """The path (warm starts, refinement on or off: coordinate descent alone) reaches the same optimum as
    a cold start at each lambda, at the requested gap."""
    x, y = data
    tol = 1e-8
    path = svm.path(x, y, LAMBDAS, hinge="mean", tol=tol, refine_solves=refine_solves)
    assert (path["gap"] <= tol).all()
    for k in range(len(LAMBDAS)):
        alone = svm.path(x, y, LAMBDAS[k:k + 1], hinge="mean", tol=tol)
        assert float(path["objective"][k]) == pytest.approx(float(alone["objective"][0]), rel=2 * tol)


def test_refinement_is_exact_once_the_partition_is_right(data):
    """From any alpha with the optimum's partition (alpha = 0, free, alpha = C), one active-set solve
    gives the optimum to rounding, where coordinate descent only approaches it."""
    x, y = data
    a = svm.augment(x, y, 1.0).numpy()
    c = float(svm.penalty_weight(LAMBDAS[1:2], len(a), "sum")[0])
    rows = svm._Rows(a)
    optimum, _, gap, _ = svm._solve(rows, np.zeros(len(a)), np.zeros(len(rows.columns)), c, tol=1e-11,
                                    max_epochs=100_000, refine_solves=0, rng=np.random.default_rng(0))
    assert gap <= 1e-11
    free = (optimum > 1e-9 * c) & (optimum < c * (1 - 1e-9))
    assert 0 < free.sum() < a.shape[1]
    start = np.where(free, optimum * np.random.default_rng(1).uniform(0.9, 1.1, len(a)), optimum).clip(0, c)
    refined, u, refined_gap, _ = svm._refine(rows, start, start @ rows.dense, c, tol=0.0, max_solves=1)
    assert refined_gap <= 1e-13
    np.testing.assert_allclose(u, optimum @ rows.dense, rtol=1e-6)


def test_path_reaches_the_requested_gap_and_tilts_as_lambda_falls(data, trained):
    x, y = data
    assert (trained["gap"] <= 1e-10).all()
    i, j = theory.centroids(x, y)
    theta = theory.tilting_angle(trained["w"], i, j)
    assert theta[-1] < 0.05 and theta[0] > theta[-1]  # large lambda: the nearest-centroid direction


def test_adversarial_distance_equals_half_centroid_gap_times_cos_theta(data, trained):
    x, y = data
    i, j = theory.centroids(x, y)
    d_adv = theory.adversarial_distance(trained["w"], trained["b"], x, y)
    identity = 0.5 * (j - i).norm() * torch.cos(theory.tilting_angle(trained["w"], i, j))
    torch.testing.assert_close(d_adv, identity, rtol=1e-6, atol=0)
    # and it moves with lambda, so the test cannot pass on a constant
    assert d_adv.max() - d_adv.min() > 0.05 * d_adv.abs().max()


def test_mirror_images_are_as_far_from_the_boundary_on_the_other_side(data, trained):
    x, _ = data
    for k in range(len(LAMBDAS)):
        w, b = trained["w"][k], trained["b"][k]
        d, d_m = theory.signed_distance(w, b, x), theory.signed_distance(w, b, theory.mirror_image(w, b, x))
        torch.testing.assert_close(d_m, -d, rtol=1e-9, atol=1e-9)
        assert (d.abs() > 1e-3).all()
        torch.testing.assert_close(theory.signed_distance(w, b, theory.projected_image(w, b, x)),
                                   torch.zeros_like(d), rtol=0, atol=1e-9)
        # the mirror image moves along w only: ||x - x_m|| = 2 |d(x)|
        torch.testing.assert_close((x - theory.mirror_image(w, b, x)).norm(dim=1), 2 * d.abs())


def test_tilting_basis_is_orthonormal_and_spans_w(data, trained):
    x, y = data
    i, j = theory.centroids(x, y)
    z, n = theory.tilting_basis(trained["w"], i, j)
    torch.testing.assert_close(n @ z, torch.zeros(len(LAMBDAS), dtype=torch.float64), atol=1e-12, rtol=0)
    torch.testing.assert_close(n.norm(dim=1), torch.ones(len(LAMBDAS), dtype=torch.float64))
    w = trained["w"]
    in_plane = (w @ z)[:, None] * z + (w * n).sum(1, keepdim=True) * n
    torch.testing.assert_close(in_plane, w)


def test_scaled_losses_have_the_papers_limits():
    z = torch.linspace(-2, 2, 9, dtype=torch.float64)
    torch.testing.assert_close(theory.scaled_loss("hinge", 1e-3, z), 1 - 1e-3 * z)  # alpha = beta = 1
    torch.testing.assert_close(theory.scaled_loss("softplus", 1e-4, z), np.log(2) - 0.5e-4 * z, rtol=1e-7, atol=1e-9)
    torch.testing.assert_close(theory.scaled_loss("softplus", 1e3, z) / 1e3, (-z).clamp(min=0), atol=1e-3, rtol=0)
    with pytest.raises(ValueError, match="allowed: hinge, softplus"):
        theory.scaled_loss("logistic", 1.0, z)


def test_bad_input_names_the_allowed_values(data):
    x, y = data
    with pytest.raises(ValueError, match="allowed: sum, mean"):
        svm.path(x, y, LAMBDAS, hinge="median")
    with pytest.raises(ValueError, match="-1 or \\+1"):
        svm.path(x, (y > 0).double(), LAMBDAS)
