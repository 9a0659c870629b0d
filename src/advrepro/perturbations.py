"""The p-norm steepest-ascent family (Lyu et al. 2015, eq. 3-4 and appendix A, eq. 44).

Every function works per example: dim 0 is the batch, all other dims are flattened.
"""

from __future__ import annotations

import math

import torch


def _conjugate(p: float) -> float:
    """q with 1/p + 1/q = 1 (q = inf for p = 1, q = 1 for p = inf)."""
    if p < 1:
        raise ValueError(f"p must be in [1, inf], got {p}")
    if p == 1:
        return math.inf
    if math.isinf(p):
        return 1.0
    return p / (p - 1)


def dual_norm(grad: torch.Tensor, p: float) -> torch.Tensor:
    """||grad||_q per example, q the conjugate of p: the regularizer the family induces (eq. 4)."""
    return torch.linalg.vector_norm(grad.flatten(1), ord=_conjugate(p), dim=1)


def steepest_ascent(grad: torch.Tensor, p: float, sigma: float) -> torch.Tensor:
    """argmax_{||e||_p <= sigma} <grad, e> per example (eq. 44).

    p = inf: sigma * sign(g) (the fast gradient sign method); p = 2: sigma * g / ||g||_2;
    p = 1: all of sigma on the first coordinate of largest |g| (ties go to the lowest index);
    1 < p < inf: sigma * sign(g) * (|g| / ||g||_q)^(1/(p-1)).  A zero gradient gives a zero step.
    """
    flat = grad.flatten(1)
    if p < 1:
        raise ValueError(f"p must be in [1, inf], got {p}")
    if math.isinf(p):
        step = torch.sign(flat)
    elif p == 1:
        top = flat.abs().argmax(dim=1, keepdim=True)
        step = torch.zeros_like(flat).scatter_(1, top, torch.sign(flat.gather(1, top)))
    else:
        q = _conjugate(p)
        norm = torch.linalg.vector_norm(flat, ord=q, dim=1, keepdim=True)
        ratio = flat.abs() / torch.where(norm > 0, norm, torch.ones_like(norm))
        step = torch.sign(flat) * ratio.pow(1.0 / (p - 1))
    return (sigma * step).view_as(grad)


def gaussian_noise(shape: torch.Size, std: float, generator: torch.Generator, device) -> torch.Tensor:
    """Isotropic N(0, std^2 I) noise, drawn from an explicit generator (Lyu section V)."""
    return std * torch.randn(shape, generator=generator, device=device)
