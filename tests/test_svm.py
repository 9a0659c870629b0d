"""The SVM path solver against liblinear, and the boundary-tilting closed forms on the models it trains
(Tanay & Griffin 2016)."""

import numpy as np
import pytest
import torch
import yaml

from advrepro import svm, theory
from advrepro.papers.tanay2016 import best_alpha
from conftest import REPO

REFERENCE = REPO / "reference" / "tanay2016"
REGISTRY = yaml.safe_load((REPO / "config" / "papers" / "tanay2016.yaml").read_text())
PAIRS = [f"{a}v{b}" for a in range(10) for b in range(a + 1, 10)]
ALPHAS = svm.lambdas_of(REGISTRY["svm"]["alphas"]).log10().tolist()

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
def test_objective_and_bias_match_libsvm_svc(data, hinge):
    """libsvm's C-SVM with a linear kernel solves the same problem (free bias): the same w and b, and an
    objective as low as libsvm's (libsvm stops up to 1e-5 above the optimum at large C; ours is certified
    by its duality gap)."""
    from sklearn.svm import SVC

    x, y = data
    ours = svm.path(x, y, LAMBDAS, hinge=hinge, tol=1e-12)
    c = svm.penalty_weight(LAMBDAS, len(x), hinge)
    for k, lam in enumerate(LAMBDAS.tolist()):
        fit = SVC(kernel="linear", C=float(c[k]), tol=1e-8).fit(x.numpy(), y.numpy())
        w, b = torch.tensor(fit.coef_), torch.tensor(fit.intercept_)
        theirs = float(svm.objectives(w, b, x, y, LAMBDAS[k:k + 1], hinge)[0])
        assert theirs * (1 - 1e-5) <= float(ours["objective"][k]) <= theirs * (1 + 1e-12), lam
        torch.testing.assert_close(ours["w"][k], w[0], rtol=0, atol=1e-5 * float(w.norm()))
        assert float(ours["b"][k]) == pytest.approx(float(b[0]), abs=1e-4)
        # E is what the docstring states: lambda ||w||^2 + the summed or mean hinge, the bias unpenalized
        hinge_terms = (1 - y * (x @ ours["w"][k] + ours["b"][k])).clamp(min=0)
        stated = lam * ours["w"][k] @ ours["w"][k] + (hinge_terms.sum() if hinge == "sum" else hinge_terms.mean())
        assert float(ours["objective"][k]) == pytest.approx(float(stated), rel=1e-12)


def test_bias_is_free(data):
    """Moved far from the origin (an optimum with a large bias), the data give the same w and the bias
    that follows it, b - w.shift, at the same objective: no penalty holds b near 0."""
    x, y = data
    shift = torch.full((x.shape[1],), 40.0, dtype=torch.float64)
    near, far = svm.path(x, y, LAMBDAS, hinge="mean", tol=1e-10), svm.path(x + shift, y, LAMBDAS, hinge="mean", tol=1e-10)
    assert far["b"][:2].abs().min() > 10  # lambda = 0.03 and 1
    torch.testing.assert_close(far["w"], near["w"], rtol=1e-5, atol=1e-7)
    torch.testing.assert_close(far["b"], near["b"] - near["w"] @ shift, rtol=1e-6, atol=1e-6)
    torch.testing.assert_close(far["objective"], near["objective"], rtol=1e-8, atol=0)


def test_large_lambda_is_the_nearest_centroid_direction_at_the_margin_identity(data):
    """Every point inside the margin (balanced classes, mean hinge): w = (j - i) / (4 lambda), so
    margin * ||j - i|| = 4 lambda -- the identity that sets the registry's lambda_scale from the authors'
    margins -- and theta = 0."""
    x, y = data
    lambdas = torch.tensor([1e3, 1e5], dtype=torch.float64)
    path = svm.path(x, y, lambdas, hinge="mean", tol=1e-12)
    i, j = theory.centroids(x, y)
    assert (y[:, None] * theory.raw_score(path["w"], path["b"], x)).abs().max() < 1  # all inside the margin
    torch.testing.assert_close(path["w"].norm(dim=1).reciprocal() * (j - i).norm(), 4 * lambdas, rtol=1e-9, atol=0)
    torch.testing.assert_close(path["w"], (j - i)[None] / (4 * lambdas[:, None]), rtol=1e-9, atol=0)


def test_among_equal_biases_the_boundary_lies_midway_between_the_farthest_points(data):
    """At large lambda every bias that keeps all points inside the margin is optimal; the one chosen
    puts the farthest point of each class at the same distance from the boundary (libsvm's rule, the
    authors': config/papers/tanay2016.yaml)."""
    x, y = data
    path = svm.path(x, y, torch.tensor([1e5], dtype=torch.float64), hinge="mean")
    distance = theory.signed_distance(path["w"][0], path["b"][0], x)
    farthest_j, farthest_i = distance[y > 0].max(), (-distance[y < 0]).max()
    assert float(farthest_j) == pytest.approx(float(farthest_i), rel=1e-10)


def test_optimal_bias_is_the_midpoint_of_the_minimizers():
    scores, bias = np.array([-0.5, 0.1, 0.2, 0.3]), np.linspace(-2, 2, 4001)
    for y, expected in (([-1.0, -1.0, 1.0, 1.0], 0.1), ([-1.0, 1.0, 1.0, 1.0], 0.85)):
        y = np.array(y)
        total = np.maximum(1 - y * (scores + bias[:, None]), 0).sum(1)
        flat = bias[np.isclose(total, total.min())]  # the minimizers: [-0.5, 0.7], then [0.8, 0.9]
        assert svm.optimal_bias(scores, y) == pytest.approx(expected)
        assert svm.optimal_bias(scores, y) == pytest.approx(0.5 * (flat.min() + flat.max()), abs=1e-3)
    with pytest.raises(ValueError, match="both classes"):
        svm.optimal_bias(scores, np.ones(4))


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
    rows = svm._Rows((y[:, None] * x).numpy(), y.numpy())
    c = float(svm.penalty_weight(LAMBDAS[1:2], len(x), "sum")[0])
    optimum, _, certificate, _ = svm._solve(rows, np.zeros(len(x)), np.zeros(len(rows.columns)), c, tol=1e-11,
                                            max_epochs=100_000, refine_solves=0)
    assert certificate.gap <= 1e-11
    free = (optimum > 1e-9 * c) & (optimum < c * (1 - 1e-9))
    assert 1 < free.sum() <= len(rows.columns)
    # the free alphas perturbed along a direction that keeps y^T alpha = 0
    room = np.minimum(optimum, c - optimum)
    noise = np.where(free, np.random.default_rng(1).uniform(-0.02, 0.02, len(x)), 0.0) * room
    noise[free] -= rows.y[free] * (rows.y @ noise) / free.sum()
    start = optimum + noise
    assert start.min() >= 0 and start.max() <= c and abs(rows.y @ start) < 1e-12 * c
    refined = svm._refine(rows, start, start @ rows.dense, c, tol=0.0, max_solves=1)
    assert refined.certificate.gap <= 1e-13
    np.testing.assert_allclose(refined.u, optimum @ rows.dense, rtol=1e-6)


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
    with pytest.raises(ValueError, match="alpha = 7, 6.9, ..., -1 only"):
        svm.authors_curves(REFERENCE / "extras_37.csv", [7.05])


def test_best_alpha_is_the_median_of_the_tied_alphas():
    alphas = [0.0, 0.5, 1.0, 1.5, 2.0]
    assert best_alpha(alphas, [0.3, 0.1, 0.2, 0.1, 0.1]) == 1.5  # tied at 0.5, 1.5, 2.0
    assert best_alpha(alphas, [0.3, 0.1, 0.2, 0.2, 0.1]) == 1.25  # tied at 0.5 and 2.0
    assert best_alpha(alphas, [0.3, 0.2, 0.1, 0.2, 0.3]) == 1.0


def test_authors_curves_are_read_by_alpha():
    """extras_XY.csv column c is alpha = 7 - c / 10 (reference/tanay2016/README.md); errors become fractions."""
    raw = np.loadtxt(REFERENCE / "extras_37.csv", delimiter=",")
    curves = svm.authors_curves(REFERENCE / "extras_37.csv", [-1.0, 2.6, 7.0])
    assert curves["test_error"] == pytest.approx(raw[5, [80, 44, 0]] / 100)
    assert curves["offset"] == pytest.approx(raw[1, [80, 44, 0]]) and curves["theta"][2] == 0


def test_lambda_scale_is_the_authors_margin_identity():
    """The registry's lambda_scale (C): at lambda = 1e7 the authors' margin times ||j - i|| (= 2 d_adv at
    theta = 0) is 4 lambda_scale lambda for every pair, as in
    test_large_lambda_is_the_nearest_centroid_direction_at_the_margin_identity."""
    for pair in PAIRS:
        top = svm.authors_curves(REFERENCE / f"extras_{pair.replace('v', '')}.csv", [7.0])
        assert top["theta"] == [0]
        assert top["margin"][0] * 2 * top["d_adv"][0] == pytest.approx(4 * REGISTRY["svm"]["lambda_scale"] * 1e7,
                                                                       rel=5e-4), pair


def test_registry_reference_values_follow_the_authors_curves_and_the_tie_rule():
    """The paper's numbers of svm_summary and svm_all_pairs are the vendored curves', best alpha by the
    tables' own tie rule (the median of the tied alphas)."""
    curves = {p: svm.authors_curves(REFERENCE / f"extras_{p.replace('v', '')}.csv", ALPHAS) for p in PAIRS}
    best = {p: best_alpha(ALPHAS, c["test_error"]) for p, c in curves.items()}
    for pair, printed in REGISTRY["tables"]["svm_summary"]["reference"]["values"].items():
        assert printed["best alpha"] == pytest.approx(best[pair]), pair
        assert printed["best test error"] == pytest.approx(100 * min(curves[pair]["test_error"]), abs=5e-3)
    printed = REGISTRY["tables"]["svm_all_pairs"]["reference"]["values"]["all"]
    assert printed["median best alpha"] == pytest.approx(np.median(list(best.values())))
    assert (printed["min best alpha"], printed["max best alpha"]) == pytest.approx((min(best.values()), max(best.values())))


def test_vendored_curves_match_their_checksums():
    import hashlib

    sums = dict(line.split()[::-1] for line in (REFERENCE / "SHA256SUMS").read_text().splitlines())
    assert sorted(sums) == [f"extras_{p.replace('v', '')}.csv" for p in PAIRS]
    for name, digest in sums.items():
        assert hashlib.sha256((REFERENCE / name).read_bytes()).hexdigest() == digest, name
