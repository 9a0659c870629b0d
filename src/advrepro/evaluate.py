"""Evaluations of a trained model: clean error, Gaussian-noise sweeps, minimum perturbations, perturbed examples,
one-step (FGSM) attacks, the logistic-regression closed form.

All work is batched over examples (dim 0); the model's train/eval mode and parameter
gradients are left exactly as they were found.
"""

from __future__ import annotations

import copy
import math
import sys
from typing import Callable

import torch
from torch import nn

from advrepro.attacks import input_gradient, one_step, targeted_ascent
from advrepro.models import eval_mode
from advrepro.perturbations import gaussian_noise, steepest_ascent
from advrepro.theory import adversarial_logistic_loss


def map_batches(fn: Callable[..., torch.Tensor], *tensors: torch.Tensor, batch_size: int) -> torch.Tensor:
    """fn over consecutive chunks (dim 0) of `tensors`, concatenated. When a chunk runs out of
    (GPU) memory the batch size is halved and the chunk retried, with a warning on stderr."""
    outputs, start, n = [], 0, len(tensors[0])
    while start < n:
        try:
            outputs.append(fn(*(t[start:start + batch_size] for t in tensors)))
        except torch.OutOfMemoryError:
            if batch_size == 1:
                raise
            batch_size //= 2
            if torch.cuda.is_available():
                torch.cuda.empty_cache()
            print(f"out of memory: evaluating in batches of {batch_size}", file=sys.stderr)
            continue
        start += len(outputs[-1])
    return torch.cat(outputs) if outputs else fn(*tensors)  # no examples (e.g. an empty adversarial set)


@torch.no_grad()
def predict(model: nn.Module, x: torch.Tensor, batch_size: int = 10_000) -> torch.Tensor:
    """Logits for x, computed in chunks of batch_size (halved on running out of memory)."""
    with eval_mode(model):
        return map_batches(model, x, batch_size=batch_size)


def _summary(logits: torch.Tensor, y: torch.Tensor) -> dict:
    """Error, the mean probability of the predicted class, and that mean over the errors only
    (Goodfellow et al. 2014's "confidence on wrong predictions"; nan without errors)."""
    confidence, predicted = logits.softmax(1).max(1)
    wrong = predicted != y
    return {"error": wrong.double().mean().item(), "mean_confidence": confidence.mean().item(),
            "confidence_on_errors": confidence[wrong].mean().item() if wrong.any() else math.nan, "n": len(y)}


def clean_error(model: nn.Module, x: torch.Tensor, y: torch.Tensor, batch_size: int = 10_000) -> dict:
    """Test error and the mean probability the model gives its predicted class."""
    return _summary(predict(model, x, batch_size), y)


def fgsm_sweep(model: nn.Module, x: torch.Tensor, y: torch.Tensor, *, epsilons: list[float], p: float = math.inf,
               clip: tuple[float, float] | None = None, source: nn.Module | None = None,
               batch_size: int = 10_000) -> list[dict]:
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
    return [{"eps": eps, **_summary(swept[:, i], y)} for i, eps in enumerate(epsilons)]


def logistic_regression_check(model: nn.Module, x: torch.Tensor, y: torch.Tensor, *, eps: float, n: int,
                              seed: int) -> dict:
    """Goodfellow et al. 2014, section 5 and Fig. 2, for a two-logit softmax model: logistic
    regression with w = W_1 - W_0, b = b_1 - b_0 and y = +1 for class 1.

    Returns w, b, clean and FGSM error at eps, `n` seeded FGSM examples (unclipped), and the
    closed-form adversarial loss against the cross-entropy at the FGSM point (largest gap). All in
    float64 on a copy of the model: in float32 the gradient of a confidently classified point
    rounds to exactly 0 (1 - p_y = 0 beyond a logit margin of about 17) and FGSM leaves it where it
    is; the points where even float64 does so are counted and left out of the gap.
    """
    model, x = copy.deepcopy(model).double(), x.double()
    linear = [m for m in model.modules() if isinstance(m, nn.Linear)][-1]
    if linear.out_features != 2:
        raise ValueError(f"logistic regression needs a two-logit model, got {linear.out_features} logits")
    w, b = (linear.weight[1] - linear.weight[0]).detach(), (linear.bias[1] - linear.bias[0]).detach()
    adversarial = one_step(model, x, y, eps=eps)
    moved = (adversarial != x).flatten(1).any(1)
    logits = predict(model, adversarial)
    at_fgsm = nn.functional.cross_entropy(logits, y, reduction="none")
    closed_form = adversarial_logistic_loss(w, b, x, 2 * y - 1, eps)
    pick = torch.randperm(len(y), generator=torch.Generator().manual_seed(seed))[:n].to(x.device)
    return {
        "eps": eps, "weights": w.view(x.shape[1:]).cpu().tolist(), "bias": b.item(),
        "clean": clean_error(model, x, y), "fgsm": _summary(logits, y),
        "vanishing_gradient": int((~moved).sum()),
        "closed_form_max_abs_gap": (closed_form - at_fgsm)[moved].abs().max().item(),
        "closed_form_mean_loss": closed_form.mean().item(), "fgsm_mean_loss": at_fgsm.mean().item(),
        "examples": {"indices": pick.tolist(), "labels": y[pick].tolist(), "images": adversarial[pick].cpu().tolist(),
                     "predictions": logits[pick].argmax(1).tolist()},
    }


def error_under_noise(
    model: nn.Module, x: torch.Tensor, y: torch.Tensor, *, stds: list[float], draws: int, seed: int,
    batch_size: int = 10_000,
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


def perturbation_examples(model: nn.Module, x: torch.Tensor, y: torch.Tensor, *, p: float, sigmas: list[float],
                          n: int, seed: int) -> dict:
    """`n` seeded random points and their steepest-ascent perturbations of norm sigma for each sigma,
    with the model's predictions before and after (Lyu et al. 2015, Figs. 1-4; eq. 22)."""
    pick = torch.randperm(len(y), generator=torch.Generator().manual_seed(seed))[:n].to(x.device)
    x, y = x[pick], y[pick]
    grad = input_gradient(model, x, y)
    result = {"indices": pick.tolist(), "labels": y.tolist(), "images": x.cpu().tolist(),
              "predictions": predict(model, x).argmax(1).tolist(), "p": p, "perturbed": []}
    for sigma in sigmas:
        eps = steepest_ascent(grad, p, sigma)
        result["perturbed"].append({"sigma": sigma, "perturbations": eps.cpu().tolist(),
                                    "predictions": predict(model, x + eps).argmax(1).tolist()})
    return result


def adversarial_samples(model: nn.Module, adversarial_set: dict, *, n: int, seed: int, p: float | None = None) -> dict:
    """`n` seeded members of a fixed adversarial set (those of step norm `p` if given), with the
    originals, the model's predictions on both, and the most changed input coordinate (c, h, w) of
    each: the single pixel of an l1 step (Shaham et al. 2015, Figs. 1, 2 and 4)."""
    steps = adversarial_set["steps"]
    pool = torch.arange(len(adversarial_set["labels"]))
    if p is not None:
        pool = pool[torch.isin(adversarial_set["step"].cpu(),
                               torch.tensor([i for i, s in enumerate(steps) if s["p"] == p]))]
    pick = pool[torch.randperm(len(pool), generator=torch.Generator().manual_seed(seed))[:n]]
    images, originals = adversarial_set["images"][pick], adversarial_set["originals"][pick]
    changed = (images - originals).abs().flatten(1).argmax(1)
    return {"labels": adversarial_set["labels"][pick].tolist(), "index": adversarial_set["index"][pick].tolist(),
            "steps": [steps[s] for s in adversarial_set["step"][pick].tolist()],
            "originals": originals.cpu().tolist(), "images": images.cpu().tolist(),
            "original_predictions": predict(model, originals).argmax(1).tolist(),
            "predictions": predict(model, images).argmax(1).tolist(),
            "changed": [list(map(int, torch.unravel_index(c, images.shape[1:]))) for c in changed.cpu()]}


def run(kind: str, model: nn.Module, x: torch.Tensor, y: torch.Tensor, spec: dict, seed: int,
        source: nn.Module | None = None, adversarial_set: dict | None = None,
        pixel_mean: torch.Tensor | None = None) -> dict:
    """Run the evaluation `kind` with its registry options `spec`; return a JSON-ready dict.
    `source`: the model an attack crafts its examples on (default: the evaluated model);
    `adversarial_set` (attacks.adversarial_set's dict) is what kind adversarial_samples draws from;
    `pixel_mean`: what a pixel_mean_255 dataset subtracted, for attacks clipped to 0-255 pixels."""
    batch_size = spec.get("batch_size", 10_000)
    if kind == "clean":
        return clean_error(model, x, y, batch_size)
    if kind == "gaussian_noise":
        return {"noise": error_under_noise(model, x, y, stds=spec["stds"], draws=spec["draws"], seed=seed,
                                           batch_size=batch_size)}
    if kind == "min_perturbation":
        norms = map_batches(lambda xb, yb: min_perturbation_along_gradient(
            model, xb, yb, max_norm=spec["max_norm"], tol=spec["tol"]), x, y, batch_size=batch_size)
        return {"statistics": perturbation_statistics(norms), "norms": norms.cpu().tolist()}
    if kind == "perturbation_examples":
        return perturbation_examples(model, x, y, p=spec["p"], sigmas=spec["sigmas"], n=spec["n"], seed=seed)
    if kind == "fgsm":
        clip = tuple(spec["clip"]) if "clip" in spec else None
        return {"fgsm": fgsm_sweep(model, x, y, epsilons=spec["epsilons"], p=spec.get("p", math.inf), clip=clip,
                                   source=source, batch_size=batch_size)}
    if kind == "logistic_regression":
        return logistic_regression_check(model, x, y, eps=spec["eps"], n=spec["n"], seed=seed)
    if kind == "adversarial_samples":
        if adversarial_set is None:
            raise ValueError("evaluation kind adversarial_samples needs split: adversarial_set and a `set`")
        return adversarial_samples(model, adversarial_set, n=spec["n"], seed=seed, p=spec.get("p"))
    if kind == "targeted_cyclic":
        return targeted_cyclic(model, x, y, level=spec["level"], step=spec["step"], max_steps=spec["max_steps"],
                               seed=seed, pixel_mean=pixel_mean, batch_size=batch_size)
    if kind == "layer_weights":
        return layer_weights(model, filters=spec["filters"], seed=seed)
    raise ValueError(f"unknown evaluation kind {kind!r}; allowed: clean, gaussian_noise, min_perturbation, "
                     "perturbation_examples, fgsm, logistic_regression, adversarial_samples, targeted_cyclic, layer_weights")

def temperature_for_median_confidence(logits: torch.Tensor, median: float, tol: float = 1e-6) -> float:
    """The softmax temperature t at which the median top probability of softmax(logits / t) is `median`
    (Tanay & Griffin 2016, footnote 10), by bisection on log t (the median falls as t grows)."""
    def gap(log_t: float) -> float:
        return (logits / math.exp(log_t)).softmax(1).max(1).values.median().item() - median
    lo, hi = -20.0, 20.0
    while hi - lo > tol:
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if gap(mid) > 0 else (lo, mid)
    return math.exp((lo + hi) / 2)


def targeted_cyclic(model: nn.Module, x: torch.Tensor, y: torch.Tensor, *, level: float, step: float,
                    max_steps: int, seed: int, pixel_mean: torch.Tensor | None, batch_size: int = 10_000) -> dict:
    """Tanay & Griffin 2016: one random test image per digit d pushed to target (d + 1) mod 10 by
    normalized-gradient ascent on 0-255 pixels until p_target >= level, at the temperature that makes
    the median top test score `level`. Images are reported in 0-255 units; norms are L2 in 0-255 units."""
    mean = torch.zeros_like(x[0]) if pixel_mean is None else pixel_mean.to(x)
    temperature = temperature_for_median_confidence(predict(model, x, batch_size), level)
    gen = torch.Generator().manual_seed(seed)
    picks = torch.stack([torch.nonzero(y.cpu() == d)[torch.randint(int((y == d).sum()), (1,), generator=gen), 0]
                         for d in range(10)]).view(-1).to(x.device)
    images, labels = x[picks], y[picks]
    target = (labels + 1) % 10
    result = targeted_ascent(model, images, target, level=level, step=step, low=-mean, high=255 - mean,
                             temperature=temperature, max_steps=max_steps)
    perturbation = result["adversarial"] - images
    return {"temperature": temperature, "indices": picks.tolist(), "labels": labels.tolist(), "targets": target.tolist(),
            "originals": (images + mean).cpu().tolist(), "adversarials": (result["adversarial"] + mean).cpu().tolist(),
            "l2_norms": perturbation.flatten(1).norm(dim=1).tolist(), "steps": result["steps"].tolist(),
            "probability": result["probability"].tolist(), "reached": result["reached"].tolist(),
            "max_steps": max_steps}


def layer_weights(model: nn.Module, *, filters: int, seed: int) -> dict:
    """Root mean square of each weight layer and `filters` random filters of it (first input channel),
    as Tanay & Griffin 2016 show for LeNet low and high weight decay."""
    gen = torch.Generator().manual_seed(seed)
    layers = []
    for name, weight in ((n, p.detach()) for n, p in model.named_parameters() if n.endswith("weight")):
        pick = torch.randperm(weight.shape[0], generator=gen)[:filters]
        layers.append({"name": name, "shape": list(weight.shape), "rms": weight.pow(2).mean().sqrt().item(),
                       "filters": weight[pick.to(weight.device), 0].cpu().tolist()})
    return {"layers": layers}
