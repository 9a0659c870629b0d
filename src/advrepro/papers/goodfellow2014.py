"""Goodfellow, Shlens & Szegedy 2014: the FGSM, adversarial-training, robustness, transfer and noise
tables, Fig. 2 (logistic regression) and an error-versus-eps figure beyond the paper."""

from __future__ import annotations

import numpy as np
import pandas as pd

from advrepro import figures
from advrepro.papers import BUILDERS, ArtifactInputs, long_table
from advrepro.papers.shared import mean_and_spread
import copy

import torch
from torch import nn

from advrepro.attacks import one_step
from advrepro.evaluate import EVALUATIONS, EvaluationInputs, clean_error
from advrepro.inference import predict, summary
from advrepro.theory import adversarial_logistic_loss


# --- evaluation kinds of this paper -------------------------------------------------------------------

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
        "clean": clean_error(model, x, y), "fgsm": summary(logits, y),
        "vanishing_gradient": int((~moved).sum()),
        "closed_form_max_abs_gap": (closed_form - at_fgsm)[moved].abs().max().item(),
        "closed_form_mean_loss": closed_form.mean().item(), "fgsm_mean_loss": at_fgsm.mean().item(),
        "examples": {"indices": pick.tolist(), "labels": y[pick].tolist(), "images": adversarial[pick].cpu().tolist(),
                     "predictions": logits[pick].argmax(1).tolist()},
    }


@EVALUATIONS.register("logistic_regression")
def _logistic_regression(inputs: EvaluationInputs, eps: float, n: int) -> dict:
    """Fig. 2's logistic regression check (above) at `eps`, with `n` seeded FGSM examples."""
    return logistic_regression_check(inputs.model, inputs.x, inputs.y, eps=eps, n=n, seed=inputs.seed)



FGSM_COLUMNS = {"error": "error", "mean confidence": "mean_confidence", "confidence on errors": "confidence_on_errors"}



def _at_eps(rows: list[dict], eps: float) -> dict:
    """The row of an FGSM sweep at `eps`; a clear error when the sweep lacks it."""
    for row in rows:
        if np.isclose(row["eps"], eps):
            return row
    raise ValueError(f"no FGSM result at eps {eps}; the sweep has {', '.join(str(r['eps']) for r in rows)}")


@BUILDERS.register()
def fgsm_table(artifact: dict, inputs: ArtifactInputs) -> pd.DataFrame:
    """Sections 4 and 6: FGSM error and confidences (%) per model, at the eps of the model's dataset
    (options.eps: dataset -> eps; options.columns: a subset of error, mean confidence, confidence on errors)."""
    (evaluation,) = artifact["evaluations"]
    options = artifact["options"]
    rows = []
    for model in artifact["models"]:
        row = _at_eps(inputs.result(model, evaluation)["fgsm"], options["eps"][inputs.models[model]["dataset"]])
        rows += [(model, inputs.labels[model], column, 100 * row[FGSM_COLUMNS[column]], np.nan)
                 for column in options.get("columns", FGSM_COLUMNS)]
    return long_table(rows)


@BUILDERS.register()
def advtrain_table(artifact: dict, inputs: ArtifactInputs) -> pd.DataFrame:
    """Section 6: clean test error (%) per model, plus rows holding the mean ± standard error over
    groups of models (options.mean_rows: row -> {label, models}), e.g. the five 1600-unit seeds."""
    (evaluation,) = artifact["evaluations"]
    errors = {model: 100 * inputs.result(model, evaluation)["error"] for model in artifact["models"]}
    rows = [(model, inputs.labels[model], "test error", error, np.nan) for model, error in errors.items()]
    for row, group in artifact.get("options", {}).get("mean_rows", {}).items():
        rows.append((row, f"{group['label']} (n={len(group['models'])})", "test error",
                     *mean_and_spread([errors[m] for m in group["models"]], "sem")))
    return long_table(rows)


@BUILDERS.register()
def transfer_table(artifact: dict, inputs: ArtifactInputs) -> pd.DataFrame:
    """Section 6: FGSM error (%) of each model (rows) on examples crafted on each source model
    (options.columns: column -> evaluation naming the source); the diagonal is white-box."""
    return long_table([
        (model, inputs.labels[model], column, 100 * inputs.result(model, evaluation)["fgsm"][0]["error"], np.nan)
        for model in artifact["models"] for column, evaluation in artifact["options"]["columns"].items()
    ])


def _error_bars(ax, artifact: dict, result: dict, model: str) -> None:
    """Clean and FGSM test error (%), ours beside the paper's (the artifact's reference)."""
    paper = artifact["reference"]["values"][model]
    columns = {"clean error": 100 * result["clean"]["error"], "fgsm error": 100 * result["fgsm"]["error"]}
    x = np.arange(len(columns))
    ours = ax.bar(x - 0.2, list(columns.values()), 0.4, color="C0", label="ours")
    theirs = ax.bar(x + 0.2, [paper[c] for c in columns], 0.4, fill=False, edgecolor="k", linestyle="--",
                    label=figures.paper_label(artifact, "error"))
    for bars in (ours, theirs):
        ax.bar_label(bars, fmt="%.3g", fontsize=6)
    ax.set_xticks(x, [c.replace(" error", "") for c in columns])
    ax.set(ylabel="test error (%)", ylim=(0, 110))
    ax.legend(loc="lower left", bbox_to_anchor=(0, 1))


@BUILDERS.register()
def logistic_regression_figure(artifact: dict, inputs: ArtifactInputs):
    """Fig. 2: the weights w = W_1 - W_0, their sign, clean and FGSM error beside the paper's, and FGSM
    examples with their labels and predictions; the title gives the largest gap between the closed form
    zeta(eps ||w||_1 - y(w.x+b)) and the loss at the FGSM point."""
    (model,), (evaluation,) = artifact["models"], artifact["evaluations"]
    result = inputs.result(model, evaluation)
    w = np.asarray(result["weights"])[0]
    bound = float(np.abs(w).max()) or 1.0
    fig = figures.figure(3.6)
    top, bottom = fig.subfigures(2, 1, height_ratios=[2.4, 1.2])
    weights, signs, errors = top.subplots(1, 3, width_ratios=[1, 1, 1.3])
    figures.draw_images([weights], [w], vmin=-bound, vmax=bound)
    figures.draw_images([signs], [np.sign(w)], vmin=-1, vmax=1)
    weights.set_title("w = W₁ − W₀ (grey is 0)")
    signs.set_title("sign(w)")
    _error_bars(errors, artifact, result, model)
    examples = result["examples"]
    axes = bottom.subplots(1, len(examples["labels"]))
    figures.draw_images(axes, list(np.asarray(examples["images"])[:, 0]), vmin=None, vmax=None)
    for ax, label, prediction in zip(axes, examples["labels"], examples["predictions"]):
        ax.set_title(f"{'37'[label]} → {'37'[prediction]}", loc="center")
    bottom.suptitle(f"FGSM examples, ε = {result['eps']:g} (unclipped): label → prediction", x=0.0, ha="left")
    fig.suptitle(f"closed-form adversarial loss against the loss at the FGSM point: largest gap "
                 f"{result['closed_form_max_abs_gap']:.1e}", x=0.0, ha="left")
    return fig


@BUILDERS.register()
def eps_curve_figure(artifact: dict, inputs: ArtifactInputs):
    """Beyond the paper: FGSM test error against eps for every model, one line each, a panel per dataset (their
    eps are in different input units: MNIST [0,1] pixels, CIFAR-10 after GCN + ZCA)."""
    (evaluation,) = artifact["evaluations"]
    datasets = list(dict.fromkeys(inputs.models[m]["dataset"] for m in artifact["models"]))
    fig, axes = figures.new(height=4.0, ncols=len(datasets), sharey=True, squeeze=False)
    panels = dict(zip(datasets, axes[0]))
    for i, model in enumerate(artifact["models"]):
        rows = inputs.result(model, evaluation)["fgsm"]
        panels[inputs.models[model]["dataset"]].plot([r["eps"] for r in rows], [100 * r["error"] for r in rows],
                                                     marker=".", color=f"C{i % 10}", label=inputs.labels[model])
    for dataset, ax in panels.items():
        ax.set(xlabel=f"ε ({dataset} input units)", title=dataset)
    axes[0, 0].set_ylabel("FGSM test error (%)")
    figures.legend_above(fig)
    return fig
