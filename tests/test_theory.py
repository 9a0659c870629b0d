import math

import numpy as np
import pytest
import torch
import yaml

from advrepro.attacks import one_step
from advrepro.theory import (
    adversarial_logistic_loss, linear_density_slope, predicted_additional_error, predicted_error_under_noise,
)
from conftest import REPO

REGISTRY = yaml.safe_load((REPO / "config" / "papers" / "lyu2015.yaml").read_text())
REFERENCE = {name: REGISTRY["tables"][name]["reference"]["values"] for name in ("table6", "table7", "table8")}


@pytest.mark.parametrize("model", list(REFERENCE["table8"]))
def test_eq33_fed_with_table6_gives_table8(model):
    """The paper's own inputs (Table VI statistics, clean error) reproduce its Table VIII."""
    stats = REFERENCE["table6"][model]
    clean = REFERENCE["table8"][model]["0"] / 100
    for std, printed in REFERENCE["table8"][model].items():
        predicted = 100 * predicted_error_under_noise(clean, stats["mean"], stats["std"], float(std))
        assert predicted == pytest.approx(printed, abs=0.015), (model, std)


def test_eq33_broadcasts_and_grows_with_noise():
    stds = np.array([0.0, 0.05, 0.1, 0.3, 1.0])
    predicted = predicted_error_under_noise(0.05, 0.3, 0.15, stds)
    assert predicted.shape == stds.shape and predicted[0] == 0.05
    assert np.all(np.diff(predicted) > 0) and predicted[-1] < 1


def test_eq33_with_several_directions_is_capped_at_one():
    assert predicted_error_under_noise(0.1, 0.0, 0.1, 1.0, n_directions=10) == pytest.approx(1.0)


def test_additional_error_matches_the_integral_it_stands_for():
    """(1 - P(miss)) * integral_0^inf k a P(N(0, s^2) >= a) da, integrated numerically."""
    k, s, correct = 13.0, 0.01, 0.94
    a = np.linspace(0, 20 * s, 200_001)
    tail = np.array([0.5 * math.erfc(v / (s * math.sqrt(2))) for v in a])
    integral = np.trapezoid(k * a * tail, a)
    assert predicted_additional_error(k, s, correct) == pytest.approx(correct * integral, rel=1e-6)


def test_linear_density_slope_recovers_a_triangular_density():
    """Samples with density 2a/c^2 on [0, c]: the fitted slope near 0 is 2/c^2."""
    c = 0.5
    rng = np.random.default_rng(0)
    samples = c * np.sqrt(rng.random(400_000))
    slope = linear_density_slope(np.append(samples, np.inf), upper=0.1, bin_width=0.005, n_total=len(samples))
    assert slope == pytest.approx(2 / c**2, rel=0.03)


@pytest.mark.parametrize("label", [0, 1])
def test_closed_form_logistic_loss_equals_the_loss_at_the_fgsm_point(label):
    """Goodfellow et al. 2014, section 5, with the errata's y inside: for both labels."""
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(12, 2)).double()
    x = torch.rand(50, 1, 3, 4, dtype=torch.float64)
    y = torch.full((50,), label)
    adversarial = one_step(model, x, y, eps=0.25)
    at_fgsm = torch.nn.functional.cross_entropy(model(adversarial), y, reduction="none")
    w, b = model[1].weight[1] - model[1].weight[0], model[1].bias[1] - model[1].bias[0]
    closed = adversarial_logistic_loss(w.detach(), b.detach(), x, 2 * y - 1, 0.25)
    torch.testing.assert_close(closed, at_fgsm.detach())
    printed = torch.nn.functional.softplus((2 * y - 1) * (0.25 * w.abs().sum() - x.flatten(1) @ w - b)).detach()
    assert torch.allclose(printed, closed) == (label == 1)  # the paper's displayed form: right for y = +1 only
