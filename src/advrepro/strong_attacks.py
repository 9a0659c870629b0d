"""Today's attacks on any registry model, beyond the four papers: PGD (Madry et al. 2018) in l_inf and l2 (and
the family's l1 step), AutoAttack's standard ensemble and the FAB minimal attack through torchattacks
(Croce & Hein 2020), and the gradient-masking checks of Carlini et al. 2019 ("On Evaluating Adversarial
Robustness").

Every attack runs in the model's valid input box when its preprocessing is an affine map of the pixels
(`input_space`): u in [0, 1]^d is the image and the model sees pad(scale * u + offset); where the map is not
affine (GCN + ZCA, YUV + LCN) no box is known and the attack is unclipped, as the papers' own. Registry
radii are in [0, 1] pixel units (`units: pixels`) or in the model's own input units (`units: input`).

Generic evaluation kinds (registered in advrepro.evaluate.EVALUATIONS, imported by name through
evaluate.GENERIC_MODULES so that only their jobs depend on this file): `pgd`, `autoattack`, `min_distance`.
torchattacks is needed by the last two only (`pip install --no-deps torchattacks`).
"""

from __future__ import annotations

import json
import math
from typing import NamedTuple

import torch
from torch import nn

from advrepro.attacks import one_step, pgd
from advrepro.data import DATASETS
from advrepro.evaluate import EVALUATIONS, EvaluationInputs, min_perturbation_along_gradient
from advrepro.inference import map_batches
from advrepro.models import eval_mode, frozen_parameters

P_NAMES = {1: "l1", 2: "l2", math.inf: "l∞"}


# --- where an attack runs: the model's input as a map of the pixels -----------------------------------


class InputSpace(NamedTuple):
    """The model sees pad(scale * u + offset) for an attack point u; u in [0, 1] is the valid image box when
    `clip` (the preprocessing is an affine map of the pixels), otherwise a loose box around the data that no
    attack within its radius reaches. `pixel_gain`: input units per [0, 1] pixel unit (exact for an affine
    map, the ratio of standard deviations otherwise)."""

    scale: float
    offset: torch.Tensor | float
    pad: int
    clip: bool
    pixel_gain: float
    description: str

    def to_input(self, u: torch.Tensor) -> torch.Tensor:
        x = self.scale * u + self.offset
        return nn.functional.pad(x, (self.pad,) * 4) if self.pad else x

    def to_attack(self, x: torch.Tensor) -> torch.Tensor:
        inner = x[..., self.pad:x.shape[-2] - self.pad, self.pad:x.shape[-1] - self.pad] if self.pad else x
        return (inner - self.offset) / self.scale

    def box(self) -> tuple[float, float] | None:
        return (0.0, 1.0) if self.clip else None

    def wrap(self, model: nn.Module) -> nn.Module:
        return _InAttackSpace(model, self)

    def record(self) -> dict:
        return {"description": self.description, "clip": self.clip, "scale": self.scale, "pixel_gain": self.pixel_gain}


class _InAttackSpace(nn.Module):
    """model(space.to_input(u)): the model as a function of attack points (what torchattacks needs)."""

    def __init__(self, model: nn.Module, space: InputSpace):
        super().__init__()
        self.model, self.space = model, space
        self.training = model.training  # eval_mode(wrapper) then restores the model's own mode

    def forward(self, u: torch.Tensor) -> torch.Tensor:
        return self.model(self.space.to_input(u))


def dataset_name(meta: dict) -> str:
    """The registry's name of the dataset an archive's meta describes: <raw> or <raw>_<preprocessing>."""
    kind = meta.get("preprocessing", {}).get("kind")
    return f"{meta['name']}_{kind}" if kind else meta["name"]


def input_space(meta: dict, x: torch.Tensor, *, pixel_mean: torch.Tensor | None = None,
                pixel_std: dict | None = None, margin: float = 0.0) -> InputSpace:
    """How attack points map to the inputs of a model trained on the dataset of `meta` (see InputSpace).
    Affine maps: raw [0, 1] pixels (Lyu, Goodfellow), 0-255 pixels minus the training mean (Tanay &
    Griffin), each split standardized by its own mean and std and padded (Shaham et al.). Otherwise a box of
    `margin` around the data x, unclipped, with pixel_gain = std(x) / pixel_std[raw dataset]."""
    preprocessing = meta.get("preprocessing", {})
    kind = preprocessing.get("kind")
    if kind is None:
        return InputSpace(1.0, 0.0, 0, True, 1.0, "[0, 1] pixels, clipped to [0, 1]")
    if kind == "centered":
        return InputSpace(255.0, -pixel_mean, 0, True, 255.0,
                          "0-255 pixels minus the training mean: ε × 255, clipped to 0-255 pixels")
    if kind == "standardize_pad32":
        mean, std = preprocessing["test_stats"]["mean"], preprocessing["test_stats"]["std"]
        side = DATASETS.lookup(meta["name"]).shape[-1]
        # the statistics are of the 0-255 pixels (advrepro.preprocessing.standardize_pad32)
        return InputSpace(255 / std, -mean / std, (preprocessing["pad_to"] - side) // 2, True, 255 / std,
                          f"0-255 pixels standardized by the test split's mean {mean:.4f} and std {std:.4f}, padded: "
                          f"the {side}x{side} pixels move in [0, 1] (the zero border is no pixel), "
                          f"ε_input = ε_pixels × 255 / {std:.4f}")
    if not pixel_std or meta["name"] not in pixel_std:
        raise ValueError(f"{dataset_name(meta)} is not an affine map of the pixels: give pixel_std: "
                         f"{{{meta['name']}: <std of its [0, 1] pixels>}} to convert ε in pixel units")
    low, high = x.min().item() - margin, x.max().item() + margin
    gain = x.std().item() / pixel_std[meta["name"]]
    return InputSpace(high - low, low, 0, False, gain,
                      f"{kind} input (not an affine map of the pixels): unclipped, ε_input = ε_pixels × "
                      f"std(input) / std(pixels) = ε_pixels × {gain:.3f}")


# --- threats: a norm, a radius and its units, PGD's steps ---------------------------------------------


def _p(value) -> float:
    p = float(value)
    if p not in P_NAMES:
        raise ValueError(f"p must be 1, 2 or .inf; got {value}")
    return p


def eps_input(threat: dict, space: InputSpace) -> float:
    """The radius of `threat` in the model's input units (its `units`: pixels, the default, or input)."""
    units = threat.get("units", "pixels")
    if units not in ("pixels", "input"):
        raise ValueError(f"units must be pixels or input; got {units!r}")
    return float(threat["eps"]) * (space.pixel_gain if units == "pixels" else 1.0)


def resolve(threat: dict, space: InputSpace) -> dict:
    """A registry threat {p, eps, units, steps, relative_step} with its radius in input and attack units and
    PGD's absolute step (relative_step * eps; Madry et al. 2018 take 0.01 = eps / 30 at eps 0.3 on MNIST)."""
    radius = eps_input(threat, space)
    resolved = {"p": _p(threat["p"]), "eps": float(threat["eps"]), "units": threat.get("units", "pixels"),
                "eps_input": radius, "eps_attack": radius / space.scale}
    if "steps" in threat:
        resolved.update(steps=int(threat["steps"]), step=float(threat["relative_step"]) * resolved["eps_attack"])
    return resolved


def threat_label(threat: dict) -> str:
    """e.g. "l∞ ε=0.3 px" or "l2 ε=2 (input units)"."""
    units = "px" if threat.get("units", "pixels") == "pixels" else "(input units)"
    return f"{P_NAMES[_p(threat['p'])]} ε={threat['eps']:g} {units}"


def _for_dataset(option: dict | None, meta: dict, what: str):
    """The entry of a per-dataset registry option for the evaluated model's dataset."""
    name = dataset_name(meta)
    if option is None:
        return None
    if name not in option:
        raise ValueError(f"{what} has no entry for dataset {name!r}; it has: {', '.join(sorted(option))}")
    return option[name]


def _curve_threats(curve: dict | None) -> list[dict]:
    """One threat per radius of a curve {p, units, epsilons, steps, relative_step}."""
    settings = {k: v for k, v in (curve or {}).items() if k != "epsilons"}
    return [{**settings, "eps": eps} for eps in (curve or {}).get("epsilons", [])]


class Setting(NamedTuple):
    """What an attack kind works on: the examples in attack units, their labels, the wrapped model, the space."""

    u: torch.Tensor
    y: torch.Tensor
    model: nn.Module
    space: InputSpace


def setting(inputs: EvaluationInputs, n: int | None, pixel_std: dict | None, threats: list[dict]) -> Setting:
    """The first n examples as attack points, in the space of the whole split (the same conversion whatever
    n), whose loose box (if any) covers the radius of every threat."""
    def space(margin: float) -> InputSpace:
        return input_space(inputs.meta, inputs.x, pixel_mean=inputs.pixel_mean, pixel_std=pixel_std, margin=margin)

    probe = space(0.0)
    chosen = space(max((eps_input(t, probe) for t in threats), default=0.0))
    return Setting(chosen.to_attack(inputs.x[:n]), inputs.y[:n], chosen.wrap(inputs.model), chosen)


@torch.no_grad()
def _wrong(model: nn.Module, u: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    with eval_mode(model):
        return model(u).argmax(1) != y


@torch.no_grad()
def _n_classes(where: Setting) -> int:
    with eval_mode(where.model):
        return where.model(where.u[:1]).shape[1]


# --- PGD and the one-step attack of the family ---------------------------------------------------------


def pgd_outcomes(where: Setting, threat: dict, *, restarts: int, more_steps: int, seed: int,
                 batch_size: int) -> dict:
    """Error (fractions) of the clean points, the one-step attack (eps, clipped as PGD), PGD and PGD with
    `more_steps` times the steps at one resolved threat, on the same points; a generator seeded alike for
    both PGD runs, so the longer run starts where the shorter did."""
    clip = where.space.box()

    def attacked(steps: int):
        generator = torch.Generator(device=where.u.device).manual_seed(seed)
        return lambda u, y: _wrong(where.model, pgd(where.model, u, y, p=threat["p"], eps=threat["eps_attack"],
                                                      step=threat["step"], steps=steps, restarts=restarts,
                                                      clip=clip, generator=generator), y)

    measures = {
        "clean": lambda u, y: _wrong(where.model, u, y),
        "one_step": lambda u, y: _wrong(where.model, one_step(where.model, u, y, p=threat["p"],
                                                              eps=threat["eps_attack"], clip=clip), y),
        "pgd": attacked(threat["steps"]),
    }
    if more_steps > 1:
        measures["pgd_more_steps"] = attacked(threat["steps"] * more_steps)
    if threat["eps_attack"] == 0:  # nothing to attack: every error is the clean one
        measures = {name: measures["clean"] for name in measures}
    result = {name: map_batches(fn, where.u, where.y, batch_size=batch_size).double().mean().item()
              for name, fn in measures.items()}
    return {**threat, "restarts": restarts, "more_steps": threat["steps"] * more_steps, **result}


@EVALUATIONS.register("pgd")
def _pgd(inputs: EvaluationInputs, threats: dict, curve: dict | None = None, large: dict | None = None,
         restarts: int = 1, more_steps: int = 4, n: int | None = None, pixel_std: dict | None = None,
         batch_size: int = 1000) -> dict:
    """PGD (Madry et al. 2018) against the one-step attack at each threat of the model's dataset (`threats`:
    dataset -> [{p, eps, units, steps, relative_step}]), along an eps `curve` (dataset -> {p, units, epsilons,
    steps, relative_step}), and at one `large` radius (dataset -> threat) where the error must reach 100%
    (Carlini et al. 2019). Also PGD with `more_steps` times the steps (it must not help much once converged)."""
    table, swept, big = (_for_dataset(option, inputs.meta, name) for option, name in
                         ((threats, "threats"), (curve, "curve"), (large, "large")))
    every = [*table, *_curve_threats(swept), *([big] if big else [])]
    where = setting(inputs, n, pixel_std, every)

    def run(threat: dict, more: int) -> dict:
        return pgd_outcomes(where, resolve(threat, where.space), restarts=restarts, more_steps=more,
                            seed=inputs.seed, batch_size=batch_size)

    return {"space": where.space.record(), "n": len(where.y),
            "threats": [run(t, more_steps) for t in table],
            "curve": [run(t, 1) for t in _curve_threats(swept)],
            "large": run(big, 1) if big else None}


# --- AutoAttack (torchattacks) ---------------------------------------------------------------------------


def torchattacks_module():
    """torchattacks, or an error saying how to install it without replacing our torch."""
    try:
        import torchattacks
    except ImportError as error:
        raise RuntimeError("this evaluation needs torchattacks: pip install --no-deps torchattacks (make setup "
                           "does; --no-deps keeps the installed torch, which its pins would replace)") from error
    return torchattacks


AUTOATTACK_NAMES = ("apgd-ce", "apgd-t", "fab-t", "square")
"""The standard version's attacks in their order (Croce & Hein 2020)."""


def autoattack_components(model: nn.Module, *, p: float, eps: float, n_classes: int, seed: int, steps: int,
                          n_queries: int) -> list[tuple[str, object]]:
    """torchattacks.AutoAttack(version="standard")'s attacks, in its order, with `steps` iterations of the
    gradient attacks (the original's 100; torchattacks' default is 10) and `n_queries` of Square. APGD-T's
    targeted DLR loss needs four classes: with fewer (a two-class model) it is left out."""
    torchattacks = torchattacks_module()
    ensemble = torchattacks.AutoAttack(model, norm="Linf" if math.isinf(p) else "L2", eps=eps, version="standard",
                                       n_classes=n_classes, seed=seed)
    attacks = getattr(getattr(ensemble, "_autoattack", None), "attacks", None)
    if attacks is None or len(attacks) != len(AUTOATTACK_NAMES):
        raise RuntimeError(f"torchattacks {torchattacks.__version__}: AutoAttack no longer holds its four attacks "
                           "in _autoattack.attacks; advrepro.strong_attacks needs updating")
    for attack in attacks:
        if hasattr(attack, "steps"):
            attack.steps = steps
        if hasattr(attack, "n_queries"):
            attack.n_queries = n_queries
    return [(name, attack) for name, attack in zip(AUTOATTACK_NAMES, attacks) if name != "apgd-t" or n_classes >= 4]


def run_ensemble(components: list[tuple[str, object]], model: nn.Module, u: torch.Tensor, y: torch.Tensor,
                 eps: float, p: float) -> torch.Tensor:
    """Each attack in turn on the points still classified correctly (as torchattacks' MultiAttack does), per
    point: -1 misclassified clean, k the first attack that fooled it (index into components), len(components)
    robust. A result outside the ball (beyond float rounding) is not counted."""
    outcome = torch.where(_wrong(model, u, y), -1, len(components))
    for k, (_, attack) in enumerate(components):
        todo = (outcome == len(components)).nonzero().flatten()
        if not len(todo):
            break
        found = attack(u[todo], y[todo])
        size = torch.linalg.vector_norm((found - u[todo]).flatten(1), ord=p, dim=1)
        fooled = _wrong(model, found, y[todo]) & (size <= eps * (1 + 1e-4) + 1e-7)
        outcome[todo[fooled]] = k
    return outcome


def autoattack_outcomes(where: Setting, threat: dict, *, seed: int, steps: int, n_queries: int,
                        batch_size: int) -> dict:
    """AutoAttack's error at one resolved threat and how many points each of its attacks fooled first; the
    black-box Square finding points the white-box attacks missed is the sign of masking (Carlini et al.
    2019). l1 has no AutoAttack here (error None)."""
    if threat["p"] == 1:
        return {**threat, "error": None, "note": "torchattacks' AutoAttack has no l1 version"}
    components = autoattack_components(where.model, p=threat["p"], eps=threat["eps_attack"],
                                       n_classes=_n_classes(where), seed=seed, steps=steps, n_queries=n_queries)
    if threat["eps_attack"] == 0:  # nothing to attack
        components = []
    with eval_mode(where.model), frozen_parameters(where.model):
        outcome = map_batches(lambda u, y: run_ensemble(components, where.model, u, y, threat["eps_attack"],
                                                        threat["p"]), where.u, where.y, batch_size=batch_size)
    first = {name: int((outcome == k).sum()) for k, (name, _) in enumerate(components)}
    return {**threat, "clean": (outcome == -1).double().mean().item(),
            "error": (outcome < len(components)).double().mean().item(), "attacks": list(first),
            "fooled_first_by": first, "square_beyond_white_box": first.get("square", 0) / len(where.y)}


@EVALUATIONS.register("autoattack")
def _autoattack(inputs: EvaluationInputs, threats: dict, curve: dict | None = None, steps: int = 100,
                n_queries: int = 5000, n: int | None = None, pixel_std: dict | None = None,
                batch_size: int = 1000) -> dict:
    """AutoAttack's standard ensemble (Croce & Hein 2020: APGD-CE, APGD-T, FAB-T, Square) through torchattacks
    at each threat of the model's dataset and along its eps `curve` (as the `pgd` kind's options; PGD's steps
    are ignored)."""
    table, swept = _for_dataset(threats, inputs.meta, "threats"), _for_dataset(curve, inputs.meta, "curve")
    where = setting(inputs, n, pixel_std, [*table, *_curve_threats(swept)])
    done = {}  # a radius both in the table and on the curve is attacked once

    def run(threat: dict) -> dict:
        resolved = resolve(threat, where.space)
        key = json.dumps(resolved, sort_keys=True)
        if key not in done:
            done[key] = autoattack_outcomes(where, resolved, seed=inputs.seed, steps=steps, n_queries=n_queries,
                                            batch_size=batch_size)
        return done[key]

    return {"space": where.space.record(), "n": len(where.y), "steps": steps,
            "n_queries": n_queries, "threats": [run(t) for t in table],
            "curve": [run(t) for t in _curve_threats(swept)]}


# --- the minimal l2 distance: FAB against the line search along the gradient ------------------------------


def fab_distances(where: Setting, *, max_norm: float, steps: int, restarts: int, seed: int,
                  batch_size: int) -> torch.Tensor:
    """The l2 distance (input units) to the nearest adversarial example FAB finds (Croce & Hein 2020,
    untargeted, in the valid box), per point; inf where none within max_norm (input units), nan for points
    misclassified clean."""
    n_classes = _n_classes(where)
    attack = torchattacks_module().FAB(where.model, norm="L2", eps=max_norm / where.space.scale, steps=steps,
                                       n_restarts=restarts, seed=seed, n_classes=n_classes)

    def distances(u: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        found = attack(u, y)
        size = torch.linalg.vector_norm((found - u).flatten(1), dim=1) * where.space.scale
        fooled = _wrong(where.model, found, y)
        return torch.where(_wrong(where.model, u, y), math.nan, torch.where(fooled, size, math.inf))

    with eval_mode(where.model), frozen_parameters(where.model):
        return map_batches(distances, where.u, where.y, batch_size=batch_size)


def distance_summary(line_search: torch.Tensor, minimal: torch.Tensor) -> dict:
    """Medians of both distances over the points classified correctly (inf: no flip within the bound), and the
    median ratio line search / minimal over the points both flipped: how far the gradient direction
    overstates the distance to the boundary."""
    correct = ~torch.isnan(line_search)
    both = correct & torch.isfinite(line_search) & torch.isfinite(minimal)
    ratio = line_search[both] / minimal[both]
    median = lambda v: v.median().item() if len(v) else math.nan  # noqa: E731
    return {"n_correct": int(correct.sum()), "n_both": int(both.sum()),
            "line_search_median": median(line_search[correct]), "minimal_median": median(minimal[correct]),
            "line_search_no_flip": int(torch.isinf(line_search[correct]).sum()),
            "minimal_no_flip": int(torch.isinf(minimal[correct]).sum()),
            "ratio_median": median(ratio),
            "overstated_fraction": (ratio > 1).double().mean().item() if len(ratio) else math.nan}


@EVALUATIONS.register("min_distance")
def _min_distance(inputs: EvaluationInputs, max_norm: float, tol: float = 1e-3, steps: int = 100,
                  restarts: int = 1, n: int | None = None, pixel_std: dict | None = None,
                  batch_size: int = 1000) -> dict:
    """The minimal l2 perturbation per test point by FAB (untargeted, valid box) against Lyu et al. 2015's line
    search along the gradient (section V-A, unclipped), both in input units, up to `max_norm` and to within
    `tol` (both in pixel units)."""
    where = setting(inputs, n, pixel_std, [{"p": 2, "eps": max_norm}])
    bound, within = (eps_input({"eps": value}, where.space) for value in (max_norm, tol))
    line = map_batches(lambda x, y: min_perturbation_along_gradient(inputs.model, x, y, max_norm=bound, tol=within),
                       inputs.x[:n], inputs.y[:n], batch_size=batch_size)
    minimal = fab_distances(where, max_norm=bound, steps=steps, restarts=restarts, seed=inputs.seed,
                            batch_size=batch_size)
    return {"space": where.space.record(), "n": len(where.y), "max_norm_input": bound, "tol_input": within,
            "steps": steps, "restarts": restarts, **distance_summary(line, minimal)}


# --- gradient-masking checks (Carlini et al. 2019) ----------------------------------------------------


CHECKS = {
    "pgd_vs_one_step": "PGD at least as strong as the one-step attack",
    "large_eps": "error reaches 100% at a large ε",
    "black_box": "black-box Square finds nothing the white-box attacks missed",
    "converged": "more PGD steps do not help much",
}


def masking_checks(pgd_row: dict, large: dict | None, autoattack_row: dict | None, tolerances: dict) -> dict:
    """The four checks at one threat: {name: {"value": pp or %, "holds": bool or None (not run)}}. Tolerances
    (pp): one_step (PGD may fall this far below the one-step error), large_eps (the large-ε error must be at
    least 100 minus this), black_box (Square may add this much), converged (the longer run may add this)."""
    def check(value, holds):
        return {"value": value, "holds": None if value is None else bool(holds)}

    gain = 100 * (pgd_row["pgd_more_steps"] - pgd_row["pgd"]) if "pgd_more_steps" in pgd_row else None
    square = (100 * autoattack_row["square_beyond_white_box"]
              if autoattack_row and autoattack_row.get("error") is not None else None)
    large_error = 100 * large["pgd"] if large else None
    return {
        "pgd_vs_one_step": check(100 * (pgd_row["pgd"] - pgd_row["one_step"]),
                                 100 * (pgd_row["pgd"] - pgd_row["one_step"]) >= -tolerances["one_step"]),
        "large_eps": check(large_error, large_error is not None and large_error >= 100 - tolerances["large_eps"]),
        "black_box": check(square, square is not None and square <= tolerances["black_box"]),
        "converged": check(gain, gain is not None and gain <= tolerances["converged"]),
    }
