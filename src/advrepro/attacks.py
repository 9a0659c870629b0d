"""Adversarial attacks on a trained model, batched over examples (dim 0).

Attacks run the model in eval mode and leave its train/eval mode and parameter .grad exactly
as they found them.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch
from torch import nn

from advrepro import objectives
from advrepro.inference import EVAL_BATCH_SIZE, map_batches, predict
from advrepro.models import eval_mode, frozen_parameters
from advrepro.perturbations import steepest_ascent


def input_gradient(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """grad_x of the cross-entropy loss, per example, in eval mode; parameter .grad untouched."""
    with eval_mode(model), torch.enable_grad():
        return objectives.input_gradient(model, x, y)


def one_step(model: nn.Module, x: torch.Tensor, y: torch.Tensor, *, p: float = math.inf, eps: float,
             clip: tuple[float, float] | None = None, grad: torch.Tensor | None = None) -> torch.Tensor:
    """x + steepest_ascent(grad_x L, p, eps), the one-step attack of the p-norm family.

    p = inf is the fast gradient sign method (Goodfellow et al. 2014, eq. 3), p = 2 and p = 1
    the l2 and single-pixel steps of Shaham et al. 2015.  `clip` = (low, high) clamps the result
    to the data range; None leaves it unclipped (neither paper states clipping).  `grad`: the
    model's input gradient at (x, y) when the caller already has it (a sweep over eps).
    """
    grad = input_gradient(model, x, y) if grad is None else grad
    return _clipped(x + steepest_ascent(grad, p, eps), clip)


def adversarial_set(model: nn.Module, x: torch.Tensor, y: torch.Tensor, steps: list[dict], *,
                    clip: tuple[float, float] | None = None, batch_size: int = EVAL_BATCH_SIZE) -> dict:
    """A fixed set of adversarial examples (Shaham et al. 2015, A_mnist and A_cifar10, section 5).

    For each step {"p", "eps"}: x + steepest_ascent(grad_x L, p, eps) from `model` (eval mode), kept
    only where the model classifies x correctly and x + Delta wrongly. Batched over chunks of
    `batch_size`. Returns tensors "images" (the adversarial examples), "originals", "labels",
    "index" (of x) and "step" (of `steps`), grouped by step, and "steps" itself.
    """
    kept: dict[str, list[torch.Tensor]] = {k: [] for k in ("images", "originals", "labels", "index", "step")}
    index = torch.arange(len(y), device=x.device)
    with eval_mode(model):
        for number, step in enumerate(steps):
            for xb, yb, ib in zip(x.split(batch_size), y.split(batch_size), index.split(batch_size)):
                adversarial = one_step(model, xb, yb, p=step["p"], eps=step["eps"], clip=clip)
                with torch.no_grad():
                    keep = (model(xb).argmax(1) == yb) & (model(adversarial).argmax(1) != yb)
                for key, value in (("images", adversarial), ("originals", xb), ("labels", yb), ("index", ib),
                                   ("step", torch.full_like(yb, number))):
                    kept[key].append(value[keep])
    return {**{k: torch.cat(v) for k, v in kept.items()}, "steps": [dict(s) for s in steps]}


class Calibration(NamedTuple):
    """Radii scaled by one common factor, and the size of the adversarial set they build."""

    scale: float
    steps: list[dict]
    size: int


def calibrate_radii(model: nn.Module, x: torch.Tensor, y: torch.Tensor, steps: list[dict], size: int, *,
                    clip: tuple[float, float] | None = None, batch_size: int = EVAL_BATCH_SIZE,
                    iterations: int = 40) -> Calibration:
    """One factor s for every radius of `steps` (their ratios kept) such that `adversarial_set` with the radii
    s * eps holds `size` examples, or as near to it as the data allow (Shaham et al. 2015 publish the sizes of
    A_mnist and A_cifar10, not the radii that built them). The set's size at s counts, per step, the correctly
    classified points that x + s * Delta fools; s is bracketed by doubling or halving from 1, then bisected in
    log s until the size is hit or `iterations` sizes were counted. The steps are computed once (eval mode)."""
    with eval_mode(model):
        correct = map_batches(lambda xb, yb: predict(model, xb).argmax(1) == yb, x, y, batch_size=batch_size)
        deltas = [map_batches(lambda xb, yb: steepest_ascent(input_gradient(model, xb, yb), step["p"], step["eps"]),
                              x, y, batch_size=batch_size) for step in steps]

    def count(scale: float) -> int:
        fooled = [map_batches(lambda xb, db: predict(model, _clipped(xb + scale * db, clip)).argmax(1), x, delta,
                              batch_size=batch_size) != y for delta in deltas]
        return int(sum((correct & wrong).sum() for wrong in fooled))

    sizes = {1.0: count(1.0)}
    low, high = (1.0, None) if sizes[1.0] < size else (None, 1.0)
    while len(sizes) < iterations and sizes[min(sizes, key=lambda s: abs(sizes[s] - size))] != size:
        scale = 2 * low if high is None else high / 2 if low is None else math.sqrt(low * high)
        sizes[scale] = count(scale)
        low, high = (scale, high) if sizes[scale] < size else (low, scale)
    best = min(sizes, key=lambda s: (abs(sizes[s] - size), s))
    return Calibration(best, [{**step, "eps": step["eps"] * best} for step in steps], sizes[best])


def _clipped(x: torch.Tensor, clip: tuple[float, float] | None) -> torch.Tensor:
    return x if clip is None else x.clamp_(*clip)


def target_probability(model: nn.Module, x: torch.Tensor, target: torch.Tensor, temperature: float = 1.0) -> torch.Tensor:
    """p_l(x) = softmax(logits / t)_l, per example."""
    return (model(x) / temperature).softmax(1).gather(1, target[:, None])[:, 0]


def targeted_ascent(model: nn.Module, x: torch.Tensor, target: torch.Tensor, *, level: float, step: float,
                    low, high, temperature: float = 1.0, max_steps: int = 10_000) -> dict:
    """x' <- clip[low, high](x' + step * grad p_l / ||grad p_l||_2) until p_l(x') >= level (Tanay & Griffin
    2016, LeNet section), batched: each example freezes exactly at the first iterate that reaches the
    level; `max_steps` is a safety stop (reported in `reached`). Runs in eval mode."""
    adversarial, steps = x.clone(), torch.zeros(len(x), dtype=torch.long, device=x.device)
    with eval_mode(model):
        for _ in range(max_steps):
            with torch.enable_grad():
                point = adversarial.detach().requires_grad_(True)
                probability = target_probability(model, point, target, temperature)
                (grad,) = torch.autograd.grad(probability.sum(), point)
            active = probability.detach() < level
            if not active.any():
                break
            moved = (adversarial + steepest_ascent(grad, 2, step)).clamp(low, high)
            adversarial = torch.where(active.view(-1, *[1] * (x.dim() - 1)), moved, adversarial)
            steps += active
        probability = target_probability(model, adversarial, target, temperature).detach()
    return {"adversarial": adversarial.detach(), "steps": steps, "probability": probability,
            "reached": probability >= level}


# --- projected gradient descent (Madry et al. 2018) -------------------------------------------------


def project(delta: torch.Tensor, p: float, eps: float) -> torch.Tensor:
    """The nearest point of the l_p ball of radius eps to each delta (dim 0 = batch; p in 1, 2, inf): clamping
    for l_inf, rescaling for l2, soft thresholding at the sorted-magnitude threshold for l1 (Duchi et al. 2008,
    fig. 1)."""
    if math.isinf(p):
        return delta.clamp(-eps, eps)
    flat = delta.flatten(1)
    if p == 2:
        norm = torch.linalg.vector_norm(flat, dim=1, keepdim=True)
        return torch.where(norm > eps, flat * (eps / norm), flat).view_as(delta)
    if p != 1:
        raise ValueError(f"projection onto the l_p ball needs p in 1, 2, inf; got {p}")
    magnitude = flat.abs()
    ordered = magnitude.sort(dim=1, descending=True).values
    cumulative = ordered.cumsum(1)
    rank = torch.arange(1, flat.shape[1] + 1, device=flat.device, dtype=flat.dtype)
    support = (ordered * rank > cumulative - eps).sum(1, keepdim=True)  # rho: the last index kept, 1-based
    theta = (cumulative.gather(1, support - 1) - eps) / support
    inside = magnitude.sum(1, keepdim=True) <= eps
    shrunk = torch.sign(flat) * (magnitude - theta).clamp(min=0)
    return torch.where(inside, flat, shrunk).view_as(delta)


def random_start(like: torch.Tensor, p: float, eps: float, generator: torch.Generator | None = None) -> torch.Tensor:
    """A random point of the l_p ball (dim 0 = batch): uniform in the l_inf cube; for p = 1, 2 a Gaussian
    direction scaled to a radius eps * U(0, 1) (as torchattacks' PGDL2 draws it)."""
    if math.isinf(p):
        return torch.empty_like(like).uniform_(-eps, eps, generator=generator)
    direction = torch.empty_like(like).normal_(generator=generator)
    radius = torch.empty((len(like),) + (1,) * (like.dim() - 1), device=like.device,
                         dtype=like.dtype).uniform_(0, 1, generator=generator)
    norm = torch.linalg.vector_norm(direction.flatten(1), ord=p, dim=1).view_as(radius)
    return direction * radius / norm * eps


def _ascent(model: nn.Module, x: torch.Tensor, y: torch.Tensor, start: torch.Tensor, *, p: float, eps: float,
            step: float, steps: int, clip, early_stop: bool) -> torch.Tensor:
    """`steps` projected steepest-ascent steps on the summed cross-entropy from x + start; with early_stop an
    example keeps its first misclassified iterate and leaves the batch (the rest are compacted)."""
    result, index = _clipped(x + start, clip), torch.arange(len(y), device=x.device)
    xs, ys, adv = x, y, result.clone()
    for _ in range(steps):
        if not len(index):
            break
        point = adv.requires_grad_(True)
        logits = model(point)
        (grad,) = torch.autograd.grad(nn.functional.cross_entropy(logits, ys, reduction="sum"), point)
        moved = _clipped(xs + project(point.detach() + steepest_ascent(grad, p, step) - xs, p, eps), clip)
        if early_stop:
            done = logits.detach().argmax(1) != ys
            result[index[done]] = point.detach()[done]
            keep = ~done
            index, xs, ys, moved = index[keep], xs[keep], ys[keep], moved[keep]
        adv = moved
    result[index] = adv.detach()
    return result


def pgd(model: nn.Module, x: torch.Tensor, y: torch.Tensor, *, p: float = math.inf, eps: float, step: float,
        steps: int, restarts: int = 1, random: bool = True, clip: tuple[float, float] | None = None,
        generator: torch.Generator | None = None, early_stop: bool = True) -> torch.Tensor:
    """Projected gradient ascent on the cross-entropy (Madry et al. 2018, eq. 2.1 and section 2.1):
    x' <- clip(x + Proj_{||d||_p <= eps}(x' + steepest_ascent(grad_x' L, p, step) - x)), from a random point of
    the ball (`random`, drawn from `generator`), `steps` times; `restarts` more starts for the examples
    still classified correctly. p = inf, 2 (and the family's one-pixel l1 step). With early_stop an example
    stops at its first misclassified iterate, an adversarial example of the ball, so the attack is never weaker
    than running on. One step, no random start and step = eps is the one-step attack (`one_step`). Batched on
    dim 0, in eval mode, the model's mode and parameter gradients left as found."""
    adversarial = x.clone()
    todo = torch.ones(len(y), dtype=torch.bool, device=x.device)
    with eval_mode(model), frozen_parameters(model), torch.enable_grad():
        for _ in range(max(restarts, 1)):
            xs, ys = x[todo], y[todo]
            start = random_start(xs, p, eps, generator) if random else torch.zeros_like(xs)
            found = _ascent(model, xs, ys, start, p=p, eps=eps, step=step, steps=steps, clip=clip,
                            early_stop=early_stop)
            adversarial[todo] = found
            with torch.no_grad():
                todo[todo.clone()] = model(found).argmax(1) == ys
            if not random or not todo.any():
                break
    return adversarial
