import math

import numpy as np
import pytest
import yaml

from advrepro.theory import linear_density_slope, predicted_additional_error, predicted_error_under_noise
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
