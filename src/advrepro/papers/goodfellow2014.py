"""Goodfellow, Shlens & Szegedy 2014: the FGSM, adversarial-training, robustness, transfer and noise
tables, Fig. 2 (logistic regression) and an error-versus-eps figure beyond the paper."""

from __future__ import annotations

import numpy as np
import pandas as pd

from advrepro import figures
from advrepro.papers import BUILDERS, ArtifactInputs, long_table
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
        values = np.array([errors[m] for m in group["models"]])
        sem = values.std(ddof=1) / np.sqrt(len(values)) if len(values) > 1 else np.nan
        rows.append((row, f"{group['label']} (n={len(values)})", "test error", values.mean(), sem))
    return long_table(rows)


@BUILDERS.register()
def transfer_table(artifact: dict, inputs: ArtifactInputs) -> pd.DataFrame:
    """Section 6: FGSM error (%) of each model (rows) on examples crafted on each source model
    (options.columns: column -> evaluation naming the source); the diagonal is white-box."""
    return long_table([
        (model, inputs.labels[model], column, 100 * inputs.result(model, evaluation)["fgsm"][0]["error"], np.nan)
        for model in artifact["models"] for column, evaluation in artifact["options"]["columns"].items()
    ])


@BUILDERS.register()
def logistic_regression_figure(artifact: dict, inputs: ArtifactInputs):
    """Fig. 2: the weights w = W_1 - W_0, their sign, and FGSM examples; the title gives clean and FGSM
    error beside the paper's and the largest gap between the closed form zeta(eps ||w||_1 - y(w.x+b))
    and the loss at the FGSM point."""
    (model,), (evaluation,) = artifact["models"], artifact["evaluations"]
    result = inputs.result(model, evaluation)
    paper = artifact.get("reference", {}).get("values", {}).get(model, {})
    w = np.asarray(result["weights"])[0]
    examples = np.asarray(result["examples"]["images"])[:, 0]
    bound = float(np.abs(w).max()) or 1.0
    fig = figures.image_grid([[w], [np.sign(w)], list(examples)], [
        "w", "sign(w)",
        f"FGSM, eps={result['eps']:g} (unclipped); labels "
        f"{' '.join('37'[label] for label in result['examples']['labels'])}, predicted "
        f"{' '.join('37'[p] for p in result['examples']['predictions'])}"], cmap="gray", vmin=None, vmax=None)
    fig.axes[0].images[0].set_clim(-bound, bound)
    fig.suptitle(
        f"clean error {100 * result['clean']['error']:.2f}% (paper {paper.get('clean error', np.nan):g}%), "
        f"FGSM error {100 * result['fgsm']['error']:.2f}% (paper {paper.get('fgsm error', np.nan):g}%); "
        f"closed-form loss vs loss at the FGSM point: max gap {result['closed_form_max_abs_gap']:.1e}",
        fontsize=7, y=1.04)
    return fig


@BUILDERS.register()
def eps_curve_figure(artifact: dict, inputs: ArtifactInputs):
    """Beyond the paper: FGSM test error against eps for every model, one line each."""
    (evaluation,) = artifact["evaluations"]
    fig, ax = figures.new(6.0, 3.8)
    for i, model in enumerate(artifact["models"]):
        rows = inputs.result(model, evaluation)["fgsm"]
        style = "--" if inputs.models[model]["dataset"] != "mnist" else "-"
        ax.plot([r["eps"] for r in rows], [100 * r["error"] for r in rows], style, marker=".", color=f"C{i % 10}",
                label=inputs.labels[model])
    ax.set_xlabel("ε (input units: MNIST [0,1]; CIFAR-10 GCN + ZCA, dashed)")
    ax.set_ylabel("FGSM test error (%)")
    ax.legend(fontsize=5, frameon=False, loc="center left", bbox_to_anchor=(1.0, 0.5))
    return fig
