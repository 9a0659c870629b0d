"""Evaluations of a trained model, chosen by `kind` in the registry: the generic measures (clean error,
Gaussian-noise sweeps, one-step attack sweeps, the minimum perturbation along the gradient) here, the
paper-specific ones next to their paper (advrepro.papers.<key>), all in EVALUATIONS.

An evaluation kind is (EvaluationInputs, **registry options) -> a JSON-ready dict. All work is batched over
examples (dim 0); the model's train/eval mode and parameter gradients are left exactly as they were found.
"""

from __future__ import annotations

import importlib
import math
from typing import NamedTuple

import torch
from torch import nn

from advrepro.attacks import input_gradient, one_step
from advrepro.inference import EVAL_BATCH_SIZE, map_batches, predict, summary
from advrepro.kinds import Kinds
from advrepro.models import eval_mode
from advrepro.perturbations import gaussian_noise, steepest_ascent


class EvaluationInputs(NamedTuple):
    """What an evaluation kind works on: the trained model, the examples of its split, the evaluation's seed,
    the model its attack is crafted on (None: the model itself), the fixed adversarial set it reads (split
    adversarial_set), the pixel mean a `centered` dataset subtracted (to clip to 0-255 pixels), and the meta
    of the dataset archive (its name and preprocessing record: how the inputs map to pixels)."""

    model: nn.Module
    x: torch.Tensor
    y: torch.Tensor
    seed: int = 0
    source: nn.Module | None = None
    adversarial_set: dict | None = None
    pixel_mean: torch.Tensor | None = None
    meta: dict | None = None


EVALUATIONS = Kinds("evaluation kind", fixed=("inputs",))
"""(EvaluationInputs, **registry options) -> result dict."""

GENERIC_MODULES = ("advrepro.strong_attacks",)
"""Modules of generic kinds besides this one (today's attacks). They are imported by name (`register_generic`),
not by an import statement, so that only the jobs of their kinds depend on their code (common.smk)."""


def register_generic() -> None:
    """Import GENERIC_MODULES, registering their kinds in EVALUATIONS."""
    for name in GENERIC_MODULES:
        importlib.import_module(name)

INPUT_KEYS = ("kind", "split", "set", "weights", "seed", "source", "examples", "source_spec")
"""Keys of an evaluation spec that choose what it runs on (advrepro.registry.evaluation_spec); the others are
options of its kind."""


def options_of(spec: dict) -> dict:
    """The options of an evaluation's kind: its spec without the keys that choose its inputs."""
    return {k: v for k, v in spec.items() if k not in INPUT_KEYS}


def run(kind: str, inputs: EvaluationInputs, options: dict) -> dict:
    """The evaluation `kind` with its registry options."""
    return EVALUATIONS.lookup(kind)(inputs, **options)


def clean_error(model: nn.Module, x: torch.Tensor, y: torch.Tensor, batch_size: int = EVAL_BATCH_SIZE) -> dict:
    """Test error and the mean probability the model gives its predicted class."""
    return summary(predict(model, x, batch_size), y)


@EVALUATIONS.register("clean")
def _clean(inputs: EvaluationInputs, batch_size: int = EVAL_BATCH_SIZE) -> dict:
    """Error and confidences on the clean examples (every paper's error tables)."""
    return clean_error(inputs.model, inputs.x, inputs.y, batch_size)


def fgsm_sweep(model: nn.Module, x: torch.Tensor, y: torch.Tensor, *, epsilons: list[float], p: float = math.inf,
               clip: tuple[float, float] | None = None, source: nn.Module | None = None,
               batch_size: int = EVAL_BATCH_SIZE) -> list[dict]:
    """`model` on one-step examples x + steepest_ascent(grad_x L, p, eps) crafted on `source`
    (default: the model itself), for each eps: error and confidences (Goodfellow et al. 2014,
    sections 4 and 6; with another source, the transfer of section 6). One input gradient per
    batch serves every eps."""
    source = model if source is None else source

    def logits(xb: torch.Tensor, yb: torch.Tensor) -> torch.Tensor:  # (batch, eps, classes)
        grad = input_gradient(source, xb, yb)
        return torch.stack([predict(model, one_step(source, xb, yb, p=p, eps=eps, clip=clip, grad=grad))
                            for eps in epsilons], dim=1)

    swept = map_batches(logits, x, y, batch_size=batch_size)
    return [{"eps": eps, **summary(swept[:, i], y)} for i, eps in enumerate(epsilons)]


def error_under_noise(
    model: nn.Module, x: torch.Tensor, y: torch.Tensor, *, stds: list[float], draws: int, seed: int,
    batch_size: int = EVAL_BATCH_SIZE,
) -> list[dict]:
    """Error under x + N(0, std^2 I), unclipped (Lyu Table VII and IX), for each std.

    For each std: mean and standard error over `draws` noise draws, and the additional error
    over the clean error (paired on the same points, so its standard error is small).
    """
    gen = torch.Generator(device=x.device).manual_seed(seed)

    def error(inputs: torch.Tensor) -> torch.Tensor:
        return (predict(model, inputs, batch_size).argmax(1) != y).double().mean()

    clean = error(x)
    rows = []
    for std in stds:
        errors = torch.stack([error(x + gaussian_noise(x.shape, std, gen, x.device))
                              for _ in range(draws if std > 0 else 1)])
        rows.append({
            "std": std, "draws": len(errors), "error": errors.mean().item(), "error_sem": _sem(errors),
            "additional_error": (errors - clean).mean().item(), "additional_error_sem": _sem(errors - clean),
        })
    return rows


def _sem(values: torch.Tensor) -> float:
    """Standard error of the mean (0 for a single value)."""
    return values.std().item() / math.sqrt(len(values)) if len(values) > 1 else 0.0


@torch.no_grad()
def _still_correct(model: nn.Module, x: torch.Tensor, direction: torch.Tensor, t: torch.Tensor, y: torch.Tensor):
    return model(x + t.view(-1, *[1] * (x.dim() - 1)) * direction).argmax(1) == y


def min_perturbation_along_gradient(
    model: nn.Module, x: torch.Tensor, y: torch.Tensor, max_norm: float, tol: float, n_bracket: int = 16,
) -> torch.Tensor:
    """L2 norm of the smallest step along grad_x L that flips a correct prediction (Lyu section V-A).

    Batched over examples: a coarse scan of `n_bracket` points on (0, max_norm] brackets the first
    flip, then bisection narrows every bracket together until it is at most `tol` wide; the
    returned norm is the flipped end, within `tol` above the flip point.  inf where the
    prediction does not flip within max_norm (or the gradient is zero); nan for points that
    are already misclassified.
    """
    with eval_mode(model):
        direction = steepest_ascent(input_gradient(model, x, y), p=2, sigma=1.0)
        zero = torch.zeros(len(y), device=x.device)
        correct = _still_correct(model, x, direction, zero, y)
        lo, hi = zero.clone(), torch.full_like(zero, math.inf)
        for k in range(1, n_bracket + 1):
            t = torch.full_like(zero, max_norm * k / n_bracket)
            open_ = torch.isinf(hi)
            flipped = ~_still_correct(model, x, direction, t, y) & open_
            hi = torch.where(flipped, t, hi)
            lo = torch.where(open_ & ~flipped, t, lo)
        found = torch.isfinite(hi)
        while found.any() and (hi - lo)[found].max() > tol:
            mid = torch.where(found, (lo + hi) / 2, lo)
            flipped = ~_still_correct(model, x, direction, mid, y) & found
            hi = torch.where(flipped, mid, hi)
            lo = torch.where(found & ~flipped, mid, lo)
    return torch.where(correct, hi, torch.full_like(hi, math.nan))


def perturbation_statistics(norms: torch.Tensor) -> dict:
    """Mean and standard deviation of the finite minimum perturbations (Lyu Table VI), with counts."""
    finite = norms[torch.isfinite(norms)]
    return {
        "mean": finite.mean().item(), "std": finite.std(unbiased=True).item(),
        "median": finite.median().item(), "n_points": len(norms),
        "n_correct": int((~torch.isnan(norms)).sum()), "n_finite": len(finite),
        "n_no_flip": int(torch.isinf(norms).sum()),
    }


@EVALUATIONS.register("fgsm")
def _fgsm(inputs: EvaluationInputs, epsilons: list[float], p: float = math.inf, clip: list[float] | None = None,
          batch_size: int = EVAL_BATCH_SIZE) -> dict:
    """One-step attacks at each eps, crafted on `source` when the registry names one (transfer)."""
    return {"fgsm": fgsm_sweep(inputs.model, inputs.x, inputs.y, epsilons=epsilons, p=p,
                               clip=tuple(clip) if clip else None, source=inputs.source, batch_size=batch_size)}


@EVALUATIONS.register("gaussian_noise")
def _gaussian_noise(inputs: EvaluationInputs, stds: list[float], draws: int, batch_size: int = EVAL_BATCH_SIZE) -> dict:
    """Error under Gaussian noise per std (Lyu et al. 2015, Tables IV, V, VII, IX)."""
    return {"noise": error_under_noise(inputs.model, inputs.x, inputs.y, stds=stds, draws=draws, seed=inputs.seed,
                                       batch_size=batch_size)}


@EVALUATIONS.register("min_perturbation")
def _min_perturbation(inputs: EvaluationInputs, max_norm: float, tol: float, batch_size: int = EVAL_BATCH_SIZE) -> dict:
    """The minimum perturbation along the gradient of every example and their statistics (Lyu et al. 2015, V-A)."""
    norms = map_batches(lambda xb, yb: min_perturbation_along_gradient(inputs.model, xb, yb, max_norm=max_norm, tol=tol),
                        inputs.x, inputs.y, batch_size=batch_size)
    return {"statistics": perturbation_statistics(norms), "norms": norms.cpu().tolist()}
