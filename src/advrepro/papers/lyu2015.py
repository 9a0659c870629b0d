"""Lyu, Huang & Liang 2015: Tables I-IX, Figures 1-7 and two artifacts beyond the paper, from evaluation results."""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch

from advrepro import figures
from advrepro.data import load_split
from advrepro.papers import BUILDERS, ArtifactInputs, long_table
from advrepro.theory import linear_density_slope, predicted_additional_error, predicted_error_under_noise
from advrepro.attacks import input_gradient
from advrepro.evaluate import EVALUATIONS, EvaluationInputs
from advrepro.inference import predict
from advrepro.perturbations import steepest_ascent


# --- evaluation kinds of this paper -------------------------------------------------------------------

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


@EVALUATIONS.register("perturbation_examples")
def _perturbation_examples(inputs: EvaluationInputs, p: float, sigmas: list[float], n: int) -> dict:
    """Figs. 1-4: `n` seeded test digits and their steepest-ascent perturbations (above)."""
    return perturbation_examples(inputs.model, inputs.x, inputs.y, p=p, sigmas=sigmas, n=n, seed=inputs.seed)





def _column(std: float) -> str:
    return f"{std:g}"


def _clean_error(noise_rows: list[dict]) -> float:
    """The clean error behind a noise sweep (each row holds error and error - clean)."""
    return noise_rows[0]["error"] - noise_rows[0]["additional_error"]


@BUILDERS.register()
def grid_selection_table(artifact: dict, inputs: ArtifactInputs) -> pd.DataFrame:
    """Section IV-A's grid: validation error (%) of each setting; ours is the lowest, the paper's is marked."""
    (evaluation,) = artifact["evaluations"]
    errors = {model: 100 * inputs.result(model, evaluation)["error"] for model in artifact["models"]}
    selected = min(errors, key=errors.get)

    def label(model: str) -> str:
        marks = [m for m, on in (("our selection", model == selected),
                                 ("the paper's choice", model == artifact["options"]["paper_choice"])) if on]
        return inputs.labels[model] + (f" ({', '.join(marks)})" if marks else "")

    return long_table([(model, label(model), "validation error", error, np.nan) for model, error in errors.items()])


@BUILDERS.register()
def min_perturbation_table(artifact: dict, inputs: ArtifactInputs) -> pd.DataFrame:
    """Table VI: mean and standard deviation of the minimum perturbation per model."""
    rows = []
    for model in artifact["models"]:
        stats = inputs.result(model, "min_perturbation")["statistics"]
        rows += [(model, inputs.labels[model], "mean", stats["mean"], np.nan),
                 (model, inputs.labels[model], "std", stats["std"], np.nan)]
    return long_table(rows)


@BUILDERS.register()
def noise_error_table(artifact: dict, inputs: ArtifactInputs) -> pd.DataFrame:
    """Table VII: error (%) under Gaussian noise, mean ± standard error over noise draws."""
    (evaluation,) = artifact["evaluations"]
    return long_table([
        (model, inputs.labels[model], _column(r["std"]), 100 * r["error"], 100 * r["error_sem"])
        for model in artifact["models"] for r in inputs.result(model, evaluation)["noise"]
    ])


@BUILDERS.register()
def predicted_noise_error_table(artifact: dict, inputs: ArtifactInputs) -> pd.DataFrame:
    """Table VIII: eq. (33) fed with our clean error and our Table VI statistics, at Table VII's noise levels."""
    noise_eval, perturbation_eval = artifact["evaluations"]
    rows = []
    for model in artifact["models"]:
        noise = inputs.result(model, noise_eval)["noise"]
        stats = inputs.result(model, perturbation_eval)["statistics"]
        for r in noise:
            predicted = predicted_error_under_noise(_clean_error(noise), stats["mean"], stats["std"], r["std"])
            rows.append((model, inputs.labels[model], _column(r["std"]), 100 * predicted, np.nan))
    return long_table(rows)


@BUILDERS.register()
def convention_table(artifact: dict, inputs: ArtifactInputs) -> pd.DataFrame:
    """Beyond the paper: which reading of the softmax models' lambda (section V) the printed clean errors support.
    Per reading (options.conventions: row -> {label, models}, one model per options.columns, in order) our clean
    test error (%) beside the printed one (the reference), and the mean absolute difference over the columns;
    the reading with the smaller one is marked."""
    (evaluation,) = artifact["evaluations"]
    options, printed = artifact["options"], artifact["reference"]["values"]
    ours = {row: {column: 100 * _clean_error(inputs.result(model, evaluation)["noise"])
                  for column, model in zip(options["columns"], group["models"])}
            for row, group in options["conventions"].items()}
    gaps = {row: float(np.mean([abs(error - printed[row][column]) for column, error in errors.items()]))
            for row, errors in ours.items()}
    closest = min(gaps, key=gaps.get)
    rows = []
    for row, errors in ours.items():
        label = options["conventions"][row]["label"] + (" (closest to the printed clean errors)" if row == closest else "")
        rows += [(row, label, column, error, np.nan) for column, error in errors.items()]
        rows.append((row, label, "mean |Δ|", gaps[row], np.nan))
    return long_table(rows)


@BUILDERS.register()
def additional_error_table(artifact: dict, inputs: ArtifactInputs) -> pd.DataFrame:
    """Table IX: additional error (%) from small noise, measured and predicted by a density linear near 0."""
    noise_eval, perturbation_eval = artifact["evaluations"]
    options = artifact["options"]
    rows = []
    for model in artifact["models"]:
        noise = inputs.result(model, noise_eval)["noise"]
        (r,) = noise
        perturbations = inputs.result(model, perturbation_eval)
        slope = linear_density_slope(perturbations["norms"], options["upper"], options["bin_width"],
                                     perturbations["statistics"]["n_correct"])
        predicted = predicted_additional_error(slope, r["std"], 1 - _clean_error(noise))
        rows += [(model, inputs.labels[model], "actual", 100 * r["additional_error"], 100 * r["additional_error_sem"]),
                 (model, inputs.labels[model], "predicted", 100 * predicted, np.nan)]
    return long_table(rows)


def _finite_norms(inputs: ArtifactInputs, artifact: dict) -> tuple[np.ndarray, dict]:
    (model,), (evaluation,) = artifact["models"], artifact["evaluations"]
    result = inputs.result(model, evaluation)
    norms = np.asarray(result["norms"], dtype=float)
    return norms[np.isfinite(norms)], result["statistics"]


@BUILDERS.register()
def perturbation_histogram(artifact: dict, inputs: ArtifactInputs):
    """Fig. 5: histogram of the minimum perturbations (L2 norm) on the training set, with our mean ± std and
    the paper's (its reference, Table VI) drawn above the bars."""
    norms, stats = _finite_norms(inputs, artifact)
    (model,) = artifact["models"]
    paper = artifact["reference"]["values"][model]
    fig, ax = figures.new()
    counts, _, _ = ax.hist(norms, bins=artifact["options"]["bins"], color="C0", label=inputs.labels[model])
    top = counts.max()
    ax.errorbar(stats["mean"], 1.1 * top, xerr=stats["std"], color="C1", marker="o", capsize=3,
                label=f"ours: mean {stats['mean']:.4f} ± std {stats['std']:.4f}")
    ax.errorbar(paper["mean"], 1.2 * top, xerr=paper["std"], color="k", capsize=3, **figures.PAPER_MARK,
                label=figures.paper_label(artifact, f"mean {paper['mean']:g} ± std {paper['std']:g}"))
    ax.set(xlabel="minimum perturbation along $\\nabla_x L$ ($L_2$ norm)", ylabel="training examples", ylim=(0, 1.35 * top))
    figures.legend_above(fig)
    return fig


@BUILDERS.register()
def perturbation_histogram_near_zero(artifact: dict, inputs: ArtifactInputs):
    """Fig. 7: Fig. 5 below `upper`, with the density k*a fitted for Table IX drawn over it."""
    norms, stats = _finite_norms(inputs, artifact)
    upper, width = artifact["options"]["upper"], artifact["options"]["bin_width"]
    slope = linear_density_slope(norms, upper, width, stats["n_correct"])
    fig, ax = figures.new()
    ax.hist(norms[norms < upper], bins=np.arange(0, upper + width / 2, width), color="C0", label="minimum perturbations")
    a = np.linspace(0, upper, 50)
    ax.plot(a, slope * a * stats["n_correct"] * width, color="C3", label=f"linear density fit, k = {slope:.1f}")
    ax.set_xlabel("minimum perturbation ($L_2$ norm)")
    ax.set_ylabel("training examples per bin")
    ax.legend()
    return fig


@BUILDERS.register()
def noisy_digits(artifact: dict, inputs: ArtifactInputs):
    """Fig. 6: MNIST test digits and the same digits with N(0, std^2) noise added."""
    options = artifact["options"]
    images, _, _ = load_split(inputs.dataset, "test")
    gen = torch.Generator().manual_seed(options["seed"])
    pick = torch.randperm(len(images), generator=gen)[: options["n"]]
    clean = images[pick, 0]
    noisy = (clean + options["std"] * torch.randn(clean.shape, generator=gen)).clamp(0, 1)
    return figures.image_grid([list(clean.numpy()), list(noisy.numpy())],
                              ["test digits", f"+ Gaussian noise, std {options['std']:g} (clipped to [0,1] for display)"])


@BUILDERS.register()
def perturbation_examples_figure(artifact: dict, inputs: ArtifactInputs):
    """Figs. 1-4: the test digits (show: clean), x + eps (perturbed) or eps * magnify (perturbation)
    for the step of norm options.sigma, with the model's predictions."""
    (model,), (evaluation,) = artifact["models"], artifact["evaluations"]
    result, options = inputs.result(model, evaluation), artifact["options"]
    images = np.asarray(result["images"])[:, 0]
    if options["show"] == "clean":
        return figures.image_grid([list(images)], [f"test digits; {inputs.labels[model]} predicts "
                                                   f"{' '.join(map(str, result['predictions']))}"])
    (step,) = [r for r in result["perturbed"] if r["sigma"] == options["sigma"]]
    eps = np.asarray(step["perturbations"])[:, 0]
    if options["show"] == "perturbed":
        perturbed = images + eps
        return figures.image_grid([list(perturbed)], [
            f"x + eps, p={result['p']:g}, sigma={step['sigma']:g} (unclipped, one grey scale); predictions "
            f"{' '.join(map(str, step['predictions']))}"], vmin=float(perturbed.min()), vmax=float(perturbed.max()))
    magnified = options["magnify"] * eps
    bound = float(np.abs(magnified).max()) or 1.0
    return figures.image_grid([list(magnified)], [f"{options['magnify']:g} x eps (p={result['p']:g}, "
                                                  f"sigma={step['sigma']:g}); grey is 0"],
                              cmap="gray", vmin=-bound, vmax=bound)


@BUILDERS.register()
def p_family_figure(artifact: dict, inputs: ArtifactInputs):
    """Beyond the paper: test error against p of the family, clean and under each noise level."""
    (evaluation,) = artifact["evaluations"]
    ps = [inputs.models[m]["training"]["objective"]["p"] for m in artifact["models"]]
    ticks = [p if np.isfinite(p) else max(p for p in ps if np.isfinite(p)) * 1.5 for p in ps]
    fig, ax = figures.new()
    stds = [r["std"] for r in inputs.result(artifact["models"][0], evaluation)["noise"]]
    for i, std in enumerate(stds):
        errors = [100 * inputs.result(m, evaluation)["noise"][i]["error"] for m in artifact["models"]]
        sems = [100 * inputs.result(m, evaluation)["noise"][i]["error_sem"] for m in artifact["models"]]
        ax.errorbar(ticks, errors, yerr=sems, marker="o", capsize=2, label="clean" if std == 0 else f"noise std {std:g}")
    ax.set_xscale("log")
    ax.set_xticks(ticks, [f"{p:g}" if np.isfinite(p) else "∞" for p in ps])
    ax.minorticks_off()
    ax.set_xlabel("p of the gradient regularization (eq. 3)")
    ax.set_ylabel("test error (%)")
    ax.legend()
    return fig
