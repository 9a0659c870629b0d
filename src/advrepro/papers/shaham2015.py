"""Shaham, Yamada & Negahban 2015: Tables 1-2 and Figures 1-6 from evaluation results and training records."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from matplotlib.patches import Circle

from advrepro import figures
from advrepro.papers import BUILDERS, ArtifactInputs, long_table
from advrepro.papers.shared import mean_and_spread
import torch
from torch import nn

from advrepro.evaluate import EVALUATIONS, EvaluationInputs
from advrepro.inference import predict


# --- evaluation kinds of this paper -------------------------------------------------------------------

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


@EVALUATIONS.register("adversarial_samples")
def _adversarial_samples(inputs: EvaluationInputs, n: int, p: float | None = None) -> dict:
    """Figs. 1, 2 and 4: `n` seeded members of the fixed adversarial set the evaluation reads (above)."""
    if inputs.adversarial_set is None:
        raise ValueError("evaluation kind adversarial_samples needs split: adversarial_set and a `set`")
    return adversarial_samples(inputs.model, inputs.adversarial_set, n=n, seed=inputs.seed, p=p)



_NORMS = {1.0: "l1", 2.0: "l2", math.inf: "l∞"}


def _norm(p: float) -> str:
    return _NORMS.get(float(p), f"l{p:g}")


@BUILDERS.register()
def accuracy_table(artifact: dict, inputs: ArtifactInputs) -> pd.DataFrame:
    """Tables 1-2: accuracy (%) per model on the test set and on the fixed adversarial set (options.columns:
    name -> evaluation), plus the set's size (options.size_column) on the row of the model it was built from.
    options.seeds (row -> its models, the row's own first) makes a row the mean ± standard deviation over them."""
    options = artifact["options"]
    groups = options.get("seeds") or {model: [model] for model in artifact["models"]}
    labels = {row: inputs.labels[row] + (f" (mean ± sd over {len(models)} seeds)" if len(models) > 1 else "")
              for row, models in groups.items()}
    rows = [(row, labels[row], column, *mean_and_spread(
             [100 * (1 - inputs.result(m, evaluation)["error"]) for m in models], "std"))
            for row, models in groups.items() for column, evaluation in options["columns"].items()]
    set_evaluation = options["columns"][options["set_column"]]
    for row in groups:
        summary = inputs.result(row, set_evaluation)["adversarial_set"]
        if summary["spec"]["model"] == row:
            rows.append((row, labels[row], options["size_column"], float(summary["size"]), np.nan))
            rows = [(m, f"{label} [{_set_note(summary)}]" if m == row else label, *rest) for m, label, *rest in rows]
    return long_table(rows)


def _set_note(summary: dict) -> str:
    """How a fixed adversarial set was built: its radii and sizes per step, the test points, the calibration."""
    steps = ", ".join(f"{_norm(s['p'])} ε={s['eps']:.4g}: {s['size']}" for s in summary["size_per_step"])
    note = f"set built from it: {steps}; from {summary['source_examples']} test points"
    calibration = summary.get("calibration")
    if calibration:
        note += (f"; radii {calibration['scale']:.4g} × the registry's, calibrated to the paper's size "
                 f"({calibration['target']} examples at this test-set size)")
    return note


def _display(images: np.ndarray) -> list[np.ndarray]:
    """Images (N, C, H, W) as HxW grey (one channel) or HxWx3 per-image min-max scaled (three channels)."""
    if images.shape[1] == 1:
        return list(images[:, 0])
    flat = images.reshape(len(images), -1)
    low, high = flat.min(1)[:, None, None, None], flat.max(1)[:, None, None, None]
    return list(((images - low) / np.where(high > low, high - low, 1)).transpose(0, 2, 3, 1))


@BUILDERS.register()
def adversarial_samples_figure(artifact: dict, inputs: ArtifactInputs):
    """Figs. 1, 2 and 4: originals (top) over their adversarial examples (bottom) from the fixed set, with the
    model's predictions; options.circle marks the most changed pixel (the single pixel of an l1 step)."""
    (model,), (evaluation,) = artifact["models"], artifact["evaluations"]
    result = inputs.result(model, evaluation)
    if not result["labels"]:
        fig, ax = figures.new(height=0.4)
        ax.set_axis_off()
        ax.text(0, 0.5, "the adversarial set holds no such example at this scale")
        return fig
    originals, images = np.asarray(result["originals"]), np.asarray(result["images"])
    grey = images.shape[1] == 1
    low, high = (min(originals.min(), images.min()), max(originals.max(), images.max())) if grey else (0, 1)
    steps = " ".join(f"{_norm(s['p'])}" for s in result["steps"])
    fig = figures.image_grid(
        [_display(originals), _display(images)],
        [f"test images (labels {' '.join(map(str, result['labels']))}; predicted "
         f"{' '.join(map(str, result['original_predictions']))})",
         f"adversarial ({steps}); predicted {' '.join(map(str, result['predictions']))}"],
        vmin=low, vmax=high)
    if artifact.get("options", {}).get("circle"):
        for ax, (_, h, w) in zip(fig.axes[len(images):], result["changed"]):
            ax.add_patch(Circle((w, h), 2.5, fill=False, color="red", linewidth=1.2))
    return fig


def _paper_accuracies(artifact: dict) -> dict[str, float]:
    """The clean test accuracy (%) the paper printed per model: column options.paper_column of the reference."""
    column = artifact["options"]["paper_column"]
    return {model: row[column] for model, row in artifact["reference"]["values"].items()}


@BUILDERS.register()
def fgsm_sweep_figure(artifact: dict, inputs: ArtifactInputs):
    """Figs. 3 and 6: accuracy (%) against the FGSM eps, each net attacked with its own gradients, with the
    clean accuracy the paper printed (Tables 1-2) at eps = 0."""
    (evaluation,) = artifact["evaluations"]
    paper = _paper_accuracies(artifact)
    fig, ax = figures.new()
    for k, model in enumerate(artifact["models"]):
        sweep = inputs.result(model, evaluation)["fgsm"]
        ax.plot([r["eps"] for r in sweep], [100 * (1 - r["error"]) for r in sweep], marker="o", color=f"C{k}",
                label=inputs.labels[model])
        ax.plot(0, paper[model], color=f"C{k}", **figures.PAPER_MARK)
    ax.set_xlabel("ε of the fast gradient sign method (normalized input units)")
    ax.set_ylabel("test accuracy (%)")
    figures.paper_legend(fig, artifact, "clean accuracy, at ε = 0", figures.PAPER_MARK)
    return fig


@BUILDERS.register()
def accuracy_per_epoch_figure(artifact: dict, inputs: ArtifactInputs):
    """Fig. 5: test accuracy (%) after every training epoch, logged during training (monitor_test), with the
    final clean accuracy the paper printed (Table 2) as a dashed line."""
    paper = _paper_accuracies(artifact)
    fig, ax = figures.new()
    for k, model in enumerate(artifact["models"]):
        history = inputs.records[model]["history"]
        ax.plot([h["epoch"] for h in history], [100 * (1 - h["monitor_error"]) for h in history], marker=".",
                color=f"C{k}", label=inputs.labels[model])
        ax.axhline(paper[model], color=f"C{k}", **figures.PAPER_LINE)
    figures.epoch_axis(ax)
    ax.set_ylabel("test accuracy (%)")
    figures.paper_legend(fig, artifact, "final test accuracy", figures.PAPER_LINE)
    return fig
