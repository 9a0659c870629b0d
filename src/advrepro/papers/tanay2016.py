"""Tanay & Griffin 2016: the boundary-tilting artifacts, from the SVM lambda paths (results/svm) and closed forms."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import torch
from matplotlib import ticker

from advrepro import figures, svm, theory
from advrepro.data import load_split
from advrepro.papers import BUILDERS, ArtifactInputs, long_table
from torch import nn

from advrepro.attacks import targeted_ascent
from advrepro.evaluate import EVALUATIONS, EvaluationInputs
from advrepro.inference import EVAL_BATCH_SIZE, predict


# --- evaluation kinds of this paper -------------------------------------------------------------------

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
                    max_steps: int, seed: int, pixel_mean: torch.Tensor | None,
                    batch_size: int = EVAL_BATCH_SIZE) -> dict:
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


def _filter_images(weight: torch.Tensor) -> torch.Tensor:
    """A conv layer's filters as images: the kernel of the first input channel, or for 1x1 kernels (LeNet's
    last layer) the weights over the input channels laid out in a near-square grid."""
    if weight.shape[-2:] != (1, 1):
        return weight[:, 0]
    channels = weight.shape[1]
    rows = max(r for r in range(1, math.isqrt(channels) + 1) if channels % r == 0)
    return weight[:, :, 0, 0].reshape(len(weight), rows, channels // rows)


def layer_weights(model: nn.Module, *, filters: int, seed: int) -> dict:
    """Root mean square of each weight layer and `filters` random filters of it (`_filter_images`), as Tanay &
    Griffin 2016 show for LeNet low and high weight decay."""
    gen = torch.Generator().manual_seed(seed)
    layers = []
    for name, weight in ((n, p.detach()) for n, p in model.named_parameters() if n.endswith("weight")):
        pick = torch.randperm(weight.shape[0], generator=gen)[:filters]
        layers.append({"name": name, "shape": list(weight.shape), "rms": weight.pow(2).mean().sqrt().item(),
                       "filters": _filter_images(weight)[pick.to(weight.device)].cpu().tolist()})
    return {"layers": layers}


@EVALUATIONS.register("targeted_cyclic")
def _targeted_cyclic(inputs: EvaluationInputs, level: float, step: float, max_steps: int,
                     batch_size: int = EVAL_BATCH_SIZE) -> dict:
    """The LeNet section's targeted cyclic adversarial examples (above), clipped to 0-255 pixels."""
    return targeted_cyclic(inputs.model, inputs.x, inputs.y, level=level, step=step, max_steps=max_steps,
                           seed=inputs.seed, pixel_mean=inputs.pixel_mean, batch_size=batch_size)


@EVALUATIONS.register("layer_weights")
def _layer_weights(inputs: EvaluationInputs, filters: int) -> dict:
    """The LeNet section's weights per layer (above)."""
    return layer_weights(inputs.model, filters=filters, seed=inputs.seed)





def _paths(inputs: ArtifactInputs) -> dict[str, dict]:
    """The lambda path of each pair the artifact reads, by pair name."""
    return {model: result for (model, evaluation), result in sorted(inputs.results.items())
            if evaluation == "svm_path"}


def _nearest(path: dict, alpha: float) -> int:
    return int(np.argmin(np.abs(np.asarray(path["alpha"]) - alpha)))


def best_alpha(alphas, test_errors) -> float:
    """The alpha of the lowest test error: the median of the alphas tied at it (one rule for our curves
    and the authors')."""
    alphas, test_errors = np.asarray(alphas), np.asarray(test_errors)
    return float(np.median(alphas[test_errors == test_errors.min()]))


def _summary(path: dict) -> dict:
    """setups.md 5.1's numbers of one path: the lowest test error and its alpha, and both ends."""
    alphas = np.asarray(path["alpha"])
    low, high = int(alphas.argmin()), int(alphas.argmax())
    return {"best alpha": best_alpha(alphas, path["test_error"]), "best test error": 100 * min(path["test_error"]),
            "train error lambda=0.1": 100 * path["train_error"][low], "test error lambda=0.1": 100 * path["test_error"][low],
            "dadv lambda=0.1": path["d_adv"][low], "theta lambda=0.1": path["theta"][low],
            "train error lambda=1e7": 100 * path["train_error"][high], "test error lambda=1e7": 100 * path["test_error"][high],
            "dadv lambda=1e7": path["d_adv"][high]}


@BUILDERS.register()
def svm_summary_table(artifact: dict, inputs: ArtifactInputs) -> pd.DataFrame:
    """setups.md 5.1's table: per pair the lowest test error and its alpha, and both ends of the path."""
    return long_table([(pair, pair, column, value, np.nan)
                  for pair, path in _paths(inputs).items() for column, value in _summary(path).items()])


@BUILDERS.register()
def svm_all_pairs_table(artifact: dict, inputs: ArtifactInputs) -> pd.DataFrame:
    """Over every pair read: the median and range of the best alpha, and means of the summary numbers."""
    rows = pd.DataFrame([_summary(p) for p in _paths(inputs).values()])
    values = {"median best alpha": rows["best alpha"].median(), "min best alpha": rows["best alpha"].min(),
              "max best alpha": rows["best alpha"].max(), "mean best test error": rows["best test error"].mean(),
              "mean test error lambda=0.1": rows["test error lambda=0.1"].mean(), "mean dadv lambda=0.1": rows["dadv lambda=0.1"].mean(),
              "mean dadv lambda=1e7": rows["dadv lambda=1e7"].mean()}
    label = f"all {len(rows)} pairs read"
    return long_table([("all", label, column, value, np.nan) for column, value in values.items()])


# The curves compared with the authors' (extras_XY.csv rows, see svm.AUTHORS_ROWS): key, label, unit.
COMPARED = (("theta", "theta", "rad"), ("offset", "bias as drawn", "[0,1] px"), ("d_adv", "d_adv", "% of theirs"),
            ("train_error", "train error", "pp"), ("test_error", "test error", "pp"))


def _deviation(curves: dict, authors: dict, key: str) -> np.ndarray:
    """|ours - authors'| of one curve at every lambda: relative (%) for d_adv, in points for errors."""
    ours, theirs = np.asarray(curves[key]), np.asarray(authors[key])
    if key == "d_adv":
        return 100 * np.abs(ours - theirs) / np.abs(theirs)
    return (100 if key.endswith("error") else 1) * np.abs(ours - theirs)


def _alpha_shifts(runs: list[tuple[dict, dict]]) -> np.ndarray:
    """Our best alpha minus the authors', per (curves, path) of a pair."""
    return np.array([best_alpha(path["alpha"], curves["test_error"]) - best_alpha(path["alpha"], path["authors"]["test_error"])
                     for curves, path in runs])


@BUILDERS.register()
def svm_agreement_table(artifact: dict, inputs: ArtifactInputs) -> pd.DataFrame:
    """Per compared curve, the median and 90th percentile of |ours - authors'| over every pair read and
    every lambda; and of |best alpha - theirs| over the pairs."""
    paths = _paths(inputs)
    rows = []
    for key, label, unit in COMPARED:
        deviations = np.concatenate([_deviation(path, path["authors"], key) for path in paths.values()])
        rows += [(key, f"{label} ({unit})", column, float(np.percentile(deviations, q)), np.nan)
                 for column, q in (("median |Δ|", 50), ("90th percentile |Δ|", 90))]
    shifts = np.abs(_alpha_shifts([(path, path) for path in paths.values()]))
    rows += [("best_alpha", f"best alpha (per pair, {len(paths)} pairs)", column, float(np.percentile(shifts, q)), np.nan)
             for column, q in (("median |Δ|", 50), ("90th percentile |Δ|", 90))]
    return long_table(rows)


@BUILDERS.register()
def svm_training_size_table(artifact: dict, inputs: ArtifactInputs) -> pd.DataFrame:
    """The acceptance numbers against the authors' curves for each training set solved (the registry's
    trend_per_class, then the one used): d_adv, test error and bias |Δ| at the 90th percentile of pairs x
    lambdas, best alpha |Δ| and Δ (median over the pairs), and d_adv's median Δ at the smallest lambda."""
    paths = _paths(inputs)
    runs = {}
    for path in paths.values():
        for curves in path["trend"]:
            runs.setdefault(f"{curves['per_class']} per class", []).append((curves, path))
    sizes = sorted({path["per_class"] for path in paths.values()})
    used = str(sizes[0]) if len(sizes) == 1 else f"{sizes[0]}-{sizes[-1]}"
    runs[f"{used} per class (used)"] = [(path, path) for path in paths.values()]
    rows = []
    for label, pairs in runs.items():
        smallest = [int(np.argmin(path["alpha"])) for _, path in pairs]
        shifts = _alpha_shifts(pairs)
        values = {
            "d_adv p90 |Δ| (%)": np.percentile(np.concatenate([_deviation(c, p["authors"], "d_adv") for c, p in pairs]), 90),
            "test error p90 |Δ| (pp)": np.percentile(np.concatenate([_deviation(c, p["authors"], "test_error") for c, p in pairs]), 90),
            "bias as drawn p90 |Δ| ([0,1] px)": np.percentile(np.concatenate([_deviation(c, p["authors"], "offset") for c, p in pairs]), 90),
            "best alpha median |Δ|": np.median(np.abs(shifts)), "best alpha median Δ": np.median(shifts),
            "d_adv median Δ at the smallest lambda (%)": np.median([100 * (c["d_adv"][k] / p["authors"]["d_adv"][k] - 1)
                                                                     for (c, p), k in zip(pairs, smallest)]),
        }
        rows += [(label, f"{label}, {len(pairs)} pairs", column, float(value), np.nan) for column, value in values.items()]
    return long_table(rows)


@BUILDERS.register()
def identity_table(artifact: dict, inputs: ArtifactInputs) -> pd.DataFrame:
    """d_adv measured on the training images against 1/2 ||j - i|| cos(theta): the largest relative
    deviation over each pair's path (it holds exactly on balanced classes)."""
    rows = []
    for pair, path in _paths(inputs).items():
        identity = 0.5 * path["centroid_distance"] * np.cos(path["theta"])
        deviation = np.abs(np.asarray(path["d_adv"]) - identity) / np.abs(identity)
        rows.append((pair, pair, "max relative deviation", float(deviation.max()), np.nan))
    return long_table(rows)


@BUILDERS.register()
def toy_figure(artifact: dict, inputs: ArtifactInputs):
    """The 2-D toy problem: class I at a < 0, class J at a > 0, both on the a axis, so every line L_theta
    through the origin separates them; an image x with its projected and mirror images on each, and
    ||x - x_m|| against theta (-> 0 as theta -> 90 degrees)."""
    gen = torch.Generator().manual_seed(0)
    spread = torch.rand(20, generator=gen, dtype=torch.float64) - 1.5
    class_i = torch.stack([spread, 0.03 * torch.randn(20, generator=gen, dtype=torch.float64)], 1)
    class_j = -class_i
    x = torch.tensor([[-1.0, 0.0]], dtype=torch.float64)
    zero = torch.tensor(0.0, dtype=torch.float64)
    fig, (left, right) = figures.new(height=3.2, ncols=2)
    left.scatter(*class_i.T, s=8, color="C0", label="class I")
    left.scatter(*class_j.T, s=8, color="C3", label="class J")
    for k, degrees in enumerate(artifact["options"]["angles_deg"]):
        theta = math.radians(degrees)
        w = torch.tensor([math.cos(theta), math.sin(theta)], dtype=torch.float64)
        line = torch.stack([-w[1], w[0]]) * torch.linspace(-2, 2, 2, dtype=torch.float64)[:, None]
        left.plot(*line.T, color=f"C{k + 4}", lw=1, label=f"L_θ, θ={degrees}°")
        x_p, x_m = theory.projected_image(w, zero, x), theory.mirror_image(w, zero, x)
        left.plot([x[0, 0], x_m[0, 0]], [x[0, 1], x_m[0, 1]], color=f"C{k + 4}", ls=":", lw=0.8)
        left.scatter(*x_p.T, marker="x", color=f"C{k + 4}", s=20)
        left.scatter(*x_m.T, marker="*", color=f"C{k + 4}", s=40)
    left.scatter(*x.T, marker="o", color="k", s=30, zorder=3, label="x (× projected, ★ mirror)")
    left.set(xlim=(-2, 2), ylim=(-2, 2), aspect="equal", xlabel="a", ylabel="b")
    figures.legend_above(fig)
    thetas = torch.linspace(0, math.pi / 2, 200, dtype=torch.float64)
    w = torch.stack([torch.cos(thetas), torch.sin(thetas)], 1)
    distance = 2 * theory.signed_distance(w, torch.zeros(len(w), dtype=torch.float64), x)[0].abs()
    right.plot(torch.rad2deg(thetas), distance, color="k")
    right.set(xlabel="θ (degrees)", ylabel="||x − x_m||", title="mirror distance against the tilting angle")
    return fig


@BUILDERS.register()
def loss_scaling_figure(artifact: dict, inputs: ArtifactInputs):
    """f_||w||(y d) for the hinge and the softplus at several ||w||, with the limits of section
    "The scaling parameter ||w||": alpha - beta ||w|| y d (small) and ||w|| max(-y d, 0) (large)."""
    z = torch.linspace(-3, 3, 301, dtype=torch.float64)
    fig, axes = figures.new(height=3.0, ncols=2, sharey=True)
    for ax, kind, (alpha, beta) in zip(axes, theory.SCALED_LOSSES, ((1.0, 1.0), (math.log(2), 0.5))):
        for k, norm in enumerate(artifact["options"]["norms"]):
            ax.plot(z, theory.scaled_loss(kind, norm, z), color=f"C{k}", label=f"||w|| = {norm:g}")
            small = alpha - beta * norm * z if norm < 1 else norm * (-z).clamp(min=0)
            ax.plot(z, small, color=f"C{k}", ls="--", lw=0.8)
        ax.set(title=f"{kind} (dashed: its small- or large-||w|| limit)", xlabel="y d(x)", ylim=(-0.2, 6))
    axes[0].legend()
    return fig


@BUILDERS.register()
def svm_curves_figure(artifact: dict, inputs: ArtifactInputs):
    """Train and test error, d_adv, theta and the bias as the authors draw it against alpha for the pairs
    in options.show and the mean over every pair read (black): ours solid, the authors' dashed."""
    paths = _paths(inputs)
    fig, axes = figures.new(13.5, 2.8, ncols=5)
    panels = (("train_error", "train error (%)", 100), ("test_error", "test error (%)", 100),
              ("d_adv", "d_adv ([0,1] pixels)", 1), ("theta", "θ (rad)", 1), ("offset", "bias as drawn ([0,1] pixels)", 1))
    alphas = next(iter(paths.values()))["alpha"]
    for ax, (key, label, factor) in zip(axes, panels):
        for k, pair in enumerate(p for p in artifact["options"]["show"] if p in paths):
            ax.plot(alphas, factor * np.asarray(paths[pair][key]), color=f"C{k}", label=pair)
            ax.plot(alphas, factor * np.asarray(paths[pair]["authors"][key]), color=f"C{k}", ls="--", lw=1)
        ours, theirs = (np.mean([curves[key] for curves in runs], 0)
                        for runs in (paths.values(), [path["authors"] for path in paths.values()]))
        ax.plot(alphas, factor * ours, color="k", lw=1.5, label=f"mean of {len(paths)}")
        ax.plot(alphas, factor * theirs, color="k", lw=1, ls="--", label="authors' (dashed)")
        ax.set(xlabel="α (λ = 10^α)", title=label)
    axes[0].legend(fontsize=7)
    return fig


def _pair_images(inputs: ArtifactInputs, path: dict, pair: str):
    """The training images of the pair that its SVMs were trained on, float64 in [0,1]."""
    images, labels, _ = load_split(inputs.dataset, "train")
    x, y = svm.pair_split(images, labels, pair, path["spec"]["per_class"])
    return x.double(), y.double()


def _model(path: dict, index: int) -> tuple[torch.Tensor, torch.Tensor]:
    return torch.tensor(path["w"][index], dtype=torch.float64), torch.tensor(path["b"][index], dtype=torch.float64)


def _grid(artifact: dict, inputs: ArtifactInputs, draw) -> object:
    paths, alphas = _paths(inputs), artifact["options"]["alphas"]
    fig, axes = figures.new(height=len(paths) * (figures.WIDTH / len(alphas) + figures.IMAGE_TITLE_HEIGHT),
                            nrows=len(paths), ncols=len(alphas), squeeze=False)
    for row, (pair, path) in zip(axes, paths.items()):
        x, y = _pair_images(inputs, path, pair)
        for ax, alpha in zip(row, alphas):
            index = _nearest(path, alpha)
            draw(ax, path, index, x, y)
            ax.set_title(f"{pair}, α = {path['alpha'][index]:.1f}")
    return fig


@BUILDERS.register()
def svm_histograms_figure(artifact: dict, inputs: ArtifactInputs):
    """Histograms of y d(x) on the training set per lambda, with the hinge scaled by ||w|| (blue)."""
    def draw(ax, path, index, x, y):
        w, b = _model(path, index)
        distance = y * theory.signed_distance(w, b, x)
        ax.hist(distance.numpy(), bins=40, color="0.6")
        twin = ax.twinx()
        z = torch.linspace(float(distance.min()), float(distance.max()), 200, dtype=torch.float64)
        twin.plot(z, theory.scaled_loss("hinge", float(w.norm()), z), color="C0")
        twin.set_yticks([])
        ax.set_yticks([])
    return _grid(artifact, inputs, draw)


@BUILDERS.register()
def tilting_plane_figure(artifact: dict, inputs: ArtifactInputs):
    """The training images projected on the tilting plane (z, n) of each SVM; the boundary is a line."""
    def draw(ax, path, index, x, y):
        w, b = _model(path, index)
        i, j = torch.tensor(path["i"], dtype=torch.float64), torch.tensor(path["j"], dtype=torch.float64)
        z, n = theory.tilting_basis(w, i, j)
        cz, cn = x @ z, x @ n
        ax.scatter(cz[y < 0], cn[y < 0], s=1, color="C0")
        ax.scatter(cz[y > 0], cn[y > 0], s=1, color="C3")
        wz, wn = float(w @ z), float(w @ n)
        span = torch.linspace(float(cz.min()), float(cz.max()), 2, dtype=torch.float64)
        if abs(wn) > 1e-12 * abs(wz):
            ax.plot(span, -(wz * span + b) / wn, color="k", lw=0.8)
        ax.set_ylim(float(cn.min()) - 0.5, float(cn.max()) + 0.5)
    return _grid(artifact, inputs, draw)


@BUILDERS.register()
def mirror_figure(artifact: dict, inputs: ArtifactInputs):
    """One training image per class (seeded) and its mirror image through each SVM boundary."""
    paths, alphas = _paths(inputs), artifact["options"]["alphas"]
    rows, titles = [], []
    gen = torch.Generator().manual_seed(artifact["options"]["seed"])
    for pair, path in paths.items():
        x, y = _pair_images(inputs, path, pair)
        picks = [int(torch.nonzero(y == label)[torch.randint(int((y == label).sum()), (1,), generator=gen)])
                 for label in (-1, 1)]
        for pick in picks:
            images = [x[pick]]
            for alpha in alphas:
                index = _nearest(path, alpha)
                w, b = _model(path, index)
                images.append(theory.mirror_image(w, b, x[pick:pick + 1])[0])
            rows.append([im.reshape(28, 28).numpy() for im in images])
            titles.append(f"{pair}: image, then mirrors at α = {', '.join(f'{a:g}' for a in alphas)}")
    return figures.image_grid(rows, titles, vmin=None, vmax=None)  # mirrors leave [0, 1]


@BUILDERS.register()
def cyclic_norms_table(artifact: dict, inputs: ArtifactInputs) -> pd.DataFrame:
    """Per network: the L2 norm of each cyclic perturbation d -> d+1 and their mean (steps in the notebook)."""
    (evaluation,) = artifact["evaluations"]
    rows = []
    for m in artifact["models"]:
        r = inputs.result(m, evaluation)
        cells = [(f"{d} to {t}" + ("" if ok else " (not reached)"), norm)
                 for d, t, norm, ok in zip(r["labels"], r["targets"], r["l2_norms"], r["reached"])]
        rows += [(m, inputs.labels[m], column, norm, np.nan) for column, norm in cells]
        rows.append((m, inputs.labels[m], "mean", float(np.mean(r["l2_norms"])), np.nan))
    return long_table(rows)


@BUILDERS.register()
def lenet_curves_figure(artifact: dict, inputs: ArtifactInputs):
    """Train error (training pass) and test error after every epoch, per network, with the final test error the
    paper printed (its reference) as a dashed line."""
    paper = artifact["reference"]["values"]
    fig, ax = figures.new()
    for k, m in enumerate(artifact["models"]):
        history = inputs.records[m]["history"]
        epochs = [h["epoch"] for h in history]
        ax.plot(epochs, [100 * h["train_error"] for h in history], color=f"C{k}", ls=":", marker=".",
                label=f"{inputs.labels[m]}: train")
        ax.plot(epochs, [100 * h["monitor_error"] for h in history], color=f"C{k}", marker=".",
                label=f"{inputs.labels[m]}: test")
        ax.axhline(paper[m]["test error"], color=f"C{k}", **figures.PAPER_LINE)
    figures.epoch_axis(ax)
    ax.set(ylabel="error (%)", yscale="log")
    ax.yaxis.set_major_formatter(ticker.FuncFormatter(lambda value, _: f"{value:g}"))
    figures.paper_legend(fig, artifact, "final test error", figures.PAPER_LINE)
    return fig


@BUILDERS.register()
def lenet_weights_figure(artifact: dict, inputs: ArtifactInputs):
    """Per network and layer: the RMS of the weights (titles) and random filters (first input channel)."""
    (evaluation,) = artifact["evaluations"]
    rows, titles = [], []
    for m in artifact["models"]:
        for layer in inputs.result(m, evaluation)["layers"]:
            filters = [np.atleast_2d(np.asarray(f)) for f in layer["filters"]]
            rows.append(filters)
            titles.append(f"{inputs.labels[m]} — {layer['name']} {tuple(layer['shape'])}: RMS {layer['rms']:.4f}")
    return figures.image_grid(rows, titles, cmap="gray", vmin=None, vmax=None)


@BUILDERS.register()
def lenet_adversarial_figure(artifact: dict, inputs: ArtifactInputs):
    """Per network: the 10 originals, their adversarials d -> d+1 and the perturbations (own grey scale),
    with the L2 norms (0-255 pixels) in the titles."""
    (evaluation,) = artifact["evaluations"]
    rows, titles = [], []
    for m in artifact["models"]:
        r = inputs.result(m, evaluation)
        originals, adversarials = np.asarray(r["originals"])[:, 0], np.asarray(r["adversarials"])[:, 0]
        norms = ", ".join(f"{n:.0f}" for n in r["l2_norms"])
        rows += [list(originals / 255), list(adversarials / 255), list((adversarials - originals) / 255)]
        titles += [f"{inputs.labels[m]}: originals (t = {r['temperature']:.3g})", "adversarials (targets d+1)",
                   f"perturbations, L2 norms: {norms}"]
    return figures.image_grid(rows, titles, vmin=None, vmax=None)
