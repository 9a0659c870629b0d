"""Today's attacks (advrepro.strong_attacks): input spaces and radii, the pgd / autoattack / min_distance kinds,
and the gradient-masking checks (Carlini et al. 2019), which must flag a model built to mask gradients."""

import math

import pytest
import torch
from torch import nn

from advrepro import catalog, preprocessing, strong_attacks
from advrepro.evaluate import EVALUATIONS, EvaluationInputs
from advrepro.models import thresholded_softmax

TOLERANCES = {"one_step": 1.0, "large_eps": 1.0, "black_box": 0.5, "converged": 2.0}
MNIST = {"name": "mnist", "variant": "test"}


def test_the_kinds_are_generic_and_only_their_jobs_depend_on_the_module():
    assert {"pgd", "autoattack", "min_distance"} <= set(EVALUATIONS)
    assert catalog.kind_modules("pgd") == ["advrepro.strong_attacks"] and catalog.kind_modules("clean") == []
    assert catalog.evaluation_module("autoattack") == "advrepro.strong_attacks"


def test_a_centered_input_maps_to_0_255_pixels_and_back():
    gen = torch.Generator().manual_seed(0)
    pixels = torch.randint(0, 256, (5, 1, 28, 28), generator=gen).float()
    mean = pixels.mean(0)
    x = pixels - mean
    space = strong_attacks.input_space({"name": "mnist", "preprocessing": {"kind": "centered"}}, x, pixel_mean=mean)
    u = space.to_attack(x)
    torch.testing.assert_close(u, pixels / 255)
    torch.testing.assert_close(space.to_input(u), x)
    assert space.clip and space.pixel_gain == 255.0


def test_a_standardized_padded_input_moves_only_its_pixels():
    """Shaham et al. 2015's MNIST: the test split standardized by its own statistics, then padded to 32x32."""
    images = torch.randint(0, 256, (4, 1, 28, 28), generator=torch.Generator().manual_seed(1), dtype=torch.uint8)
    pixels, std = images / 255, (images / 255).double().std().item()  # [0, 1] pixels and their std
    prepared = preprocessing.standardize_pad32(images, images)  # the pipeline's own (statistics of 0-255 pixels)
    x = prepared.test
    meta = {"name": "mnist", "preprocessing": {"kind": "standardize_pad32", **prepared.record}}
    space = strong_attacks.input_space(meta, x)
    u = space.to_attack(x)
    assert u.shape == (4, 1, 28, 28)
    torch.testing.assert_close(u, pixels)
    moved = space.to_input((u + 0.1).clamp(0, 1))
    assert (moved[..., :2, :] == 0).all() and (moved[..., :, -2:] == 0).all()  # the border stays zero
    threat = strong_attacks.resolve({"p": 2, "eps": 2.0, "units": "input", "steps": 40, "relative_step": 0.0625}, space)
    assert threat["eps_attack"] == pytest.approx(2.0 * std) and threat["step"] == pytest.approx(0.125 * std)


def test_an_input_that_is_no_affine_map_of_the_pixels_is_attacked_unclipped_with_a_stated_conversion():
    x = torch.randn(6, 3, 4, 4, generator=torch.Generator().manual_seed(2)) * 2
    meta = {"name": "cifar10", "preprocessing": {"kind": "gcn_zca"}}
    with pytest.raises(ValueError, match="pixel_std"):
        strong_attacks.input_space(meta, x)
    space = strong_attacks.input_space(meta, x, pixel_std={"cifar10": 0.25}, margin=3.0)
    assert not space.clip and space.box() is None
    assert space.pixel_gain == pytest.approx(x.std().item() / 0.25)
    u = space.to_attack(x)
    assert u.min() > 0 and u.max() < 1  # the loose box holds every point within the margin
    torch.testing.assert_close(space.to_input(u), x)
    assert strong_attacks.eps_input({"eps": 8 / 255}, space) == pytest.approx(8 / 255 * space.pixel_gain)


def _threshold_problem(masked: bool, n: int = 200):
    """Two classes on 8x8 images in [0, 1]: which half has more pixels above 0.5. The masked model decides on the
    binarized image (a hard threshold in front of a linear model); the other model on the pixels themselves."""
    model = thresholded_softmax((1, 8, 8), n_classes=2) if masked else nn.Sequential(nn.Flatten(), nn.Linear(64, 2))
    linear = model[-1]
    with torch.no_grad():
        half = torch.cat([torch.ones(32), -torch.ones(32)])
        linear.weight.copy_(torch.stack([-half, half]) * 2)
        linear.bias.zero_()
    x = torch.rand(n, 1, 8, 8, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        y = model(x).argmax(1)  # no clean error
    return model.eval(), x, y


def _checks(masked: bool) -> list[dict]:
    pytest.importorskip("torchattacks", reason="pip install --no-deps torchattacks (make setup does)")
    model, x, y = _threshold_problem(masked)
    inputs = EvaluationInputs(model, x, y, seed=0, meta=MNIST)
    threat = {"p": math.inf, "eps": 0.3, "steps": 40, "relative_step": 0.0333}
    pgd = EVALUATIONS["pgd"](inputs, threats={"mnist": [threat]}, large={"mnist": {**threat, "eps": 1.0}})
    attacked = EVALUATIONS["autoattack"](inputs, threats={"mnist": [threat]}, steps=20, n_queries=300)
    return [strong_attacks.masking_checks(row, pgd["large"], aa, TOLERANCES)
            for row, aa in zip(pgd["threats"], attacked["threats"])]


def test_the_checks_flag_a_model_built_to_mask_gradients():
    (checks,) = _checks(masked=True)
    assert checks["large_eps"]["holds"] is False  # gradient attacks never reach 100%, even with the whole box
    assert checks["black_box"]["holds"] is False and checks["black_box"]["value"] > 10  # Square fools it


def test_the_checks_hold_for_the_same_decision_without_the_threshold():
    (checks,) = _checks(masked=False)
    assert all(check["holds"] for check in checks.values()), checks


def test_pgd_kind_reports_every_threat_curve_and_large_radius_and_leaves_the_model_as_found():
    model, x, y = _threshold_problem(masked=False)
    model.train()
    inputs = EvaluationInputs(model, x, y, seed=1, meta=MNIST)
    threat = {"p": 2, "eps": 1.0, "steps": 10, "relative_step": 0.25}
    result = EVALUATIONS["pgd"](inputs, threats={"mnist": [threat]}, n=50, more_steps=2,
                                curve={"mnist": {**threat, "epsilons": [0, 0.5, 1.0]}})
    assert model.training and all(p.grad is None for p in model.parameters())
    (row,) = result["threats"]
    assert result["n"] == 50 and row["eps_attack"] == 1.0 and row["step"] == 0.25 and row["more_steps"] == 20
    assert row["clean"] == 0 and row["pgd_more_steps"] >= row["pgd"] >= row["one_step"] > 0
    assert [r["eps"] for r in result["curve"]] == [0, 0.5, 1.0] and result["curve"][0]["pgd"] == 0
    assert result["large"] is None and result["space"]["clip"]
    with pytest.raises(ValueError, match="no entry for dataset 'mnist'"):
        EVALUATIONS["pgd"](inputs, threats={"cifar10": [threat]})


def test_autoattack_has_the_standard_attacks_in_order_with_the_given_iterations():
    pytest.importorskip("torchattacks", reason="pip install --no-deps torchattacks (make setup does)")
    model, _, _ = _threshold_problem(masked=False)
    components = strong_attacks.autoattack_components(model, p=2, eps=0.5, n_classes=10, seed=0, steps=7, n_queries=11)
    assert [name for name, _ in components] == ["apgd-ce", "apgd-t", "fab-t", "square"]
    assert [type(a).__name__ for _, a in components] == ["APGD", "APGDT", "FAB", "Square"]
    assert [a.steps for _, a in components[:3]] == [7, 7, 7] and components[3][1].n_queries == 11
    two = strong_attacks.autoattack_components(model, p=2, eps=0.5, n_classes=2, seed=0, steps=7, n_queries=11)
    assert [name for name, _ in two] == ["apgd-ce", "fab-t", "square"]  # APGD-T's DLR loss needs 4 classes


def test_on_a_linear_model_the_gradient_direction_is_the_minimal_one():
    """For two classes and a linear model the line search along the gradient finds the boundary's nearest point:
    FAB's minimal distance must agree, so their ratio is 1 (Lyu et al. 2015's line search is exact there)."""
    pytest.importorskip("torchattacks", reason="pip install --no-deps torchattacks (make setup does)")
    model, x, y = _threshold_problem(masked=False, n=60)
    x = 0.45 + 0.1 * x  # far from the box's faces: the unclipped line search and the boxed FAB see the same ball
    with torch.no_grad():
        y = model(x).argmax(1)
    result = EVALUATIONS["min_distance"](EvaluationInputs(model, x, y, seed=0, meta=MNIST), max_norm=5.0, tol=1e-5,
                                         steps=50)
    assert result["n_both"] == 60 and result["ratio_median"] == pytest.approx(1.0, abs=0.02)
    assert result["line_search_median"] == pytest.approx(result["minimal_median"], rel=0.02)


def test_a_missing_torchattacks_says_how_to_install_it(monkeypatch):
    import builtins

    real_import = builtins.__import__

    def no_torchattacks(name, *args, **kwargs):
        if name == "torchattacks":
            raise ImportError("No module named 'torchattacks'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_torchattacks)
    with pytest.raises(RuntimeError, match=r"pip install --no-deps torchattacks"):
        strong_attacks.torchattacks_module()


def test_autoattack_kind_attacks_a_radius_shared_by_the_table_and_the_curve_once(monkeypatch):
    model, x, y = _threshold_problem(masked=False)
    attacked = []

    def outcomes(where, threat, **_):
        attacked.append(threat["eps"])
        return {**threat, "error": 0.0}

    monkeypatch.setattr(strong_attacks, "autoattack_outcomes", outcomes)
    threat = {"p": math.inf, "eps": 0.3, "steps": 40, "relative_step": 0.0333}
    result = EVALUATIONS["autoattack"](EvaluationInputs(model, x, y, seed=0, meta=MNIST), threats={"mnist": [threat]},
                                       curve={"mnist": {**threat, "epsilons": [0.1, 0.3]}})
    assert sorted(attacked) == [0.1, 0.3]
    assert [r["eps"] for r in result["curve"]] == [0.1, 0.3] and result["curve"][1] == result["threats"][0]
