"""Closed forms of the papers (Lyu et al. 2015, section V; Goodfellow et al. 2014, section 5;
Tanay & Griffin 2016, boundary tilting)."""

from __future__ import annotations

import math
from statistics import NormalDist

import numpy as np
import torch

_STANDARD_NORMAL = NormalDist()


def flip_probability(mu_a: float, sigma_a: float, noise_std: float) -> float:
    """P(delta >= 0) with delta = eta_0 - ||a|| ~ N(-mu_a, noise_std^2 + sigma_a^2) (Lyu eq. 31-32)."""
    return 1.0 - _STANDARD_NORMAL.cdf(mu_a / math.hypot(noise_std, sigma_a))


def predicted_error_under_noise(clean_error, mu_a, sigma_a, noise_std, n_directions=1):
    """Lyu eq. (33): P(miss) + (1 - P(miss)) * n * P(delta >= 0), as a fraction.

    Without noise (noise_std = 0) nothing is perturbed and the prediction is the clean error,
    as printed in the paper's Table VIII (the Gaussian fit of ||a|| alone would put about 3%
    of its mass below zero, an artefact the paper discusses).  Broadcasts over noise_std.
    """
    def one(std: float) -> float:
        if std == 0:
            return clean_error
        flip = min(1.0, n_directions * flip_probability(mu_a, sigma_a, std))
        return clean_error + (1 - clean_error) * flip

    if np.ndim(noise_std) == 0:
        return one(float(noise_std))
    return np.array([one(float(s)) for s in np.asarray(noise_std)])


def linear_density_slope(norms: np.ndarray, upper: float, bin_width: float, n_total: int) -> float:
    """Slope k of a density f(a) = k * a fitted by least squares through 0 on the histogram of
    minimum perturbations below `upper` (Lyu Fig. 7); the density is per point of `n_total`."""
    norms = np.asarray(norms, dtype=float)
    edges = np.arange(0.0, upper + bin_width / 2, bin_width)
    counts, edges = np.histogram(norms[np.isfinite(norms)], bins=edges)
    centres = (edges[:-1] + edges[1:]) / 2
    density = counts / (n_total * bin_width)
    return float((centres @ density) / (centres @ centres))


def predicted_additional_error(slope: float, noise_std: float, correct_fraction: float) -> float:
    """Additional error from N(0, noise_std^2) noise when the density of ||a|| is k*a near 0 (Lyu Table IX).

    (1 - P(miss)) * integral_0^inf k a P(eta_0 >= a) da = (1 - P(miss)) * k * noise_std^2 / 4,
    since integral_0^inf t (1 - Phi(t)) dt = 1/4.
    """
    return correct_fraction * slope * noise_std**2 / 4


def adversarial_logistic_loss(w: torch.Tensor, b: torch.Tensor | float, x: torch.Tensor, y: torch.Tensor,
                              eps: float) -> torch.Tensor:
    """Goodfellow et al. 2014, section 5: the logistic loss at the worst point of the max-norm ball,
    zeta(eps ||w||_1 - y (w.x + b)) per example, zeta = softplus, labels y in {-1, +1}.

    The paper prints zeta(y (eps ||w||_1 - w.x - b)), right only for y = +1 (setups.md errata).
    x is (n, features) or (n, ...) flattened per example.
    """
    margin = y * (x.flatten(1) @ w.flatten() + b)
    return torch.nn.functional.softplus(eps * w.abs().sum() - margin)


# --- Tanay & Griffin 2016: boundary tilting. Weights w (d,) or (L, d), biases b () or (L,), images x (n, d)
# in the same pixel units; labels y in {-1, +1} (class I = -1 with centroid i, class J = +1 with centroid j).

SCALED_LOSSES = ("hinge", "softplus")


def raw_score(w: torch.Tensor, b: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """s(x) = w.x + b, shape (n,) or (n, L)."""
    return x @ (w.T if w.dim() == 2 else w) + b


def signed_distance(w: torch.Tensor, b: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """d(x) = s(x) / ||w||, the signed Euclidean distance to the boundary ("The scaling parameter ||w||")."""
    return raw_score(w, b, x) / w.norm(dim=-1)


def error_distance(w, b, x, y) -> torch.Tensor:
    """d_err = (1/n) sum over the misclassified (y d(x) <= 0) of -y d(x)."""
    return (-_y(y, x) * signed_distance(w, b, x)).clamp(min=0).mean(0)


def adversarial_distance(w, b, x, y) -> torch.Tensor:
    """d_adv = (1/n) sum y d(x), the mean distance to the boundary, negative for misclassified images."""
    return (_y(y, x) * signed_distance(w, b, x)).mean(0)


def _y(y: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    return y.to(x.dtype)[:, None] if y.dim() == 1 else y


def centroids(x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(i, j): the mean images of class I (y = -1) and class J (y = +1)."""
    return x[y < 0].mean(0), x[y > 0].mean(0)


def tilting_angle(w: torch.Tensor, i: torch.Tensor, j: torch.Tensor) -> torch.Tensor:
    """theta, the angle between w and the nearest-centroid normal z = (j - i) / ||j - i||, so that on
    balanced classes d_adv = 1/2 ||j - i|| cos(theta)."""
    z = (j - i) / (j - i).norm()
    return torch.arccos(((w @ z) / w.norm(dim=-1)).clamp(-1, 1))


def midpoint_offset(w, b, i, j) -> torch.Tensor:
    """The signed distance d((i + j) / 2) of the centroids' midpoint to the boundary: the boundary lies at
    -offset from the midpoint along its normal (the authors' "b", drawn as a line crossing the j - i axis
    at -b when theta = 0)."""
    return signed_distance(w, b, ((i + j) / 2)[None])[0]


def tilting_basis(w: torch.Tensor, i: torch.Tensor, j: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(z, n): the orthonormal basis of the tilting plane by Gram-Schmidt, n = (w - (w.z) z) / ||.||."""
    z = (j - i) / (j - i).norm()
    n = w - (w @ z)[..., None] * z
    return z, n / n.norm(dim=-1, keepdim=True)


def projected_image(w, b, x) -> torch.Tensor:
    """x_p = x - d(x) w^, the closest point on the boundary (w, b of one model: (d,), ())."""
    return x - signed_distance(w, b, x)[:, None] * (w / w.norm())


def mirror_image(w, b, x) -> torch.Tensor:
    """x_m = x - 2 d(x) w^: as far from the boundary as x, on the other side."""
    return x - 2 * signed_distance(w, b, x)[:, None] * (w / w.norm())


def scaled_loss(kind: str, norm: float, distance: torch.Tensor) -> torch.Tensor:
    """f_||w||(y d) = f(||w|| y d) for the hinge max(1 - z, 0) or the softplus ln(1 + e^-z)."""
    if kind not in SCALED_LOSSES:
        raise ValueError(f"unknown loss {kind!r}; allowed: {', '.join(SCALED_LOSSES)}")
    z = norm * distance
    return (1 - z).clamp(min=0) if kind == "hinge" else torch.nn.functional.softplus(-z)
