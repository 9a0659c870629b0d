"""Training objectives: (model, x, y) -> (scalar loss, logits of the batch the loss was computed on).

Each objective runs the model in whatever mode it is in (train mode while training, so dropout
is active in every forward pass, including the one that finds a perturbation).
"""

from __future__ import annotations

import math
from typing import Callable, Literal

import torch
from torch import nn

from advrepro.kinds import Kinds
from advrepro.models import frozen_parameters, weight_parameters
from advrepro.perturbations import dual_norm, steepest_ascent

Objective = Callable[[nn.Module, torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor]]
OBJECTIVES = Kinds("objective")
"""Objective factories: (**registry options) -> Objective; the registry names one with `name`."""


def _check_reduction(loss_reduction: str) -> None:
    if loss_reduction not in ("mean", "sum"):
        raise ValueError(f"unknown loss_reduction {loss_reduction!r}; allowed: mean, sum")


@OBJECTIVES.register("plain")
def weight_decay_objective(weight_decay: float = 0.0, loss_reduction: Literal["mean", "sum"] = "mean") -> Objective:
    """Cross-entropy (mean or sum over the batch) + (lambda/2) * sum of squared weights, biases exempt.

    With loss_reduction="sum" the penalty weighs against the summed batch loss, so lambda acts
    as lambda / batch_size would against the mean.
    """
    _check_reduction(loss_reduction)

    def objective(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        logits = model(x)
        loss = nn.functional.cross_entropy(logits, y, reduction=loss_reduction)
        if weight_decay:
            loss = loss + 0.5 * weight_decay * sum(w.pow(2).sum() for w in weight_parameters(model))
        return loss, logits

    return objective


def input_gradient(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """grad_x of the summed cross-entropy in the model's current mode (one gradient per example), with the
    parameters frozen: no weight gradient is computed, and .grad is untouched."""
    x = x.detach().requires_grad_(True)
    with frozen_parameters(model):
        (grad,) = torch.autograd.grad(nn.functional.cross_entropy(model(x), y, reduction="sum"), x)
    return grad


@OBJECTIVES.register()
def gradient_regularization(p: float = 2.0, sigma: float = 1.0,
                            form: Literal["perturbation", "double_backprop"] = "perturbation") -> Objective:
    """Lyu et al. 2015 gradient regularization of the p-norm family, in one of two forms.

    "perturbation" (eq. 1-3): the loss L(x + eps) at eps = steepest_ascent(grad_x L, p, sigma),
    eps computed from a detached gradient, so no gradient flows through it.
    "double_backprop" (eq. 4): the exact penalty L(x) + sigma * ||grad_x L||_{p*}, per example,
    differentiated through the input gradient.
    """
    if form not in ("perturbation", "double_backprop"):
        raise ValueError(f"unknown form {form!r}; allowed: perturbation, double_backprop")

    def perturbation(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        eps = steepest_ascent(input_gradient(model, x, y), p, sigma).detach()
        logits = model(x + eps)
        return nn.functional.cross_entropy(logits, y), logits

    def double_backprop(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = x.detach().requires_grad_(True)
        logits = model(x)
        losses = nn.functional.cross_entropy(logits, y, reduction="none")
        (grad,) = torch.autograd.grad(losses.sum(), x, create_graph=True)
        return (losses + sigma * dual_norm(grad, p)).mean(), logits

    return perturbation if form == "perturbation" else double_backprop


@OBJECTIVES.register()
def adversarial(alpha: float = 0.5, eps: float = 0.25, p: float = math.inf) -> Objective:
    """Goodfellow et al. 2014, eq. 6: alpha J(x) + (1 - alpha) J(x + eps sign(grad_x J)) at p = inf.

    The perturbation is found afresh for every batch from the gradient in the model's current
    (train) mode and detached, so no gradient flows through it. Clean and perturbed batches go
    through the model in one forward pass (each with its own dropout masks); the logits returned
    are the clean half's.
    """
    _check_alpha(alpha)

    def objective(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        step = steepest_ascent(input_gradient(model, x, y), p, eps).detach()
        return _blend(model, x, x + step, y, alpha)

    return objective


def _check_alpha(alpha: float) -> None:
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha must be in [0, 1], got {alpha}")


def _blend(model: nn.Module, x: torch.Tensor, perturbed: torch.Tensor, y: torch.Tensor,
           alpha: float) -> tuple[torch.Tensor, torch.Tensor]:
    """alpha J(x) + (1 - alpha) J(perturbed), both batches in one forward pass (each with its own dropout masks);
    the logits returned are the clean half's."""
    logits = model(torch.cat([x, perturbed]))
    losses = nn.functional.cross_entropy(logits, torch.cat([y, y]), reduction="none")
    clean, other = losses.split(len(y))
    return alpha * clean.mean() + (1 - alpha) * other.mean(), logits[: len(y)]


@OBJECTIVES.register()
def robust(p: float = float("inf"), eps: float = 0.0) -> Objective:
    """Shaham et al. 2015, Algorithm 1: the loss only at x + Delta, Delta = steepest_ascent(grad_x L, p, eps)
    (eq. 11) found in the model's current (train) mode; the clean batch never enters the update.
    It is the perturbation form of the gradient regularization family."""
    return gradient_regularization(p, eps, form="perturbation")


NOISE = {
    "gaussian": lambda x, scale: scale * torch.randn_like(x),
    "sign": lambda x, scale: scale * (2 * torch.randint_like(x, 2) - 1),
    "uniform": lambda x, scale: scale * (2 * torch.rand_like(x) - 1),
}
"""Input noise of a given scale: N(0, scale^2 I), +-scale with equal odds, U(-scale, scale)."""


@OBJECTIVES.register()
def input_noise(kind: Literal["gaussian", "sign", "uniform"] = "gaussian", scale: float = 0.0) -> Objective:
    """The loss at x + noise, a fresh draw every batch from the global RNG (so checkpoints replay it).

    gaussian: the ReLU + dropout + Gaussian row of Lyu Table I; sign and uniform: Goodfellow
    et al. 2014 section 6's noise baselines to adversarial training.
    """
    _check_noise(kind)

    def objective(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        logits = model(x + NOISE[kind](x, scale))
        return nn.functional.cross_entropy(logits, y), logits

    return objective


def _check_noise(kind: str) -> None:
    if kind not in NOISE:
        raise ValueError(f"unknown noise kind {kind!r}; allowed: {', '.join(NOISE)}")


@OBJECTIVES.register()
def blended_noise(alpha: float = 0.5, kind: Literal["gaussian", "sign", "uniform"] = "sign",
                  scale: float = 0.0) -> Objective:
    """Eq. (6) of Goodfellow et al. 2014 with noise in place of the adversarial step: alpha J(x) +
    (1 - alpha) J(x + noise), a fresh draw every batch from the global RNG; the control that separates the
    noise from the clean half of the blend in section 6's noise baselines."""
    _check_alpha(alpha)
    _check_noise(kind)

    def objective(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return _blend(model, x, x + NOISE[kind](x, scale), y, alpha)

    return objective


def make_objective(spec: dict) -> Objective:
    """Build the objective named by spec["name"] with the remaining keys as options."""
    return OBJECTIVES.lookup(spec["name"])(**{k: v for k, v in spec.items() if k != "name"})
