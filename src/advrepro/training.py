"""One training loop for every model: data on the device, seeded shuffles, progress, checkpoint/resume."""

from __future__ import annotations

import math
import sys
from pathlib import Path
from typing import Callable

import torch
from torch import nn
from tqdm import tqdm

from advrepro.io import load_tensors, save_tensors
from advrepro.models import weight_parameters
from advrepro.provenance import config_hash

Objective = Callable[[nn.Module, torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor]]
"""(model, x, y) -> (scalar loss, logits of the batch the loss was computed on)."""


def weight_decay_objective(weight_decay: float = 0.0, loss_reduction: str = "mean") -> Objective:
    """Cross-entropy (mean or sum over the batch) + (lambda/2) * sum of squared weights, biases exempt.

    With loss_reduction="sum" the penalty weighs against the summed batch loss, so lambda acts
    as lambda / batch_size would against the mean.
    """
    if loss_reduction not in ("mean", "sum"):
        raise ValueError(f"unknown loss_reduction {loss_reduction!r}; allowed: mean, sum")

    def objective(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        logits = model(x)
        loss = nn.functional.cross_entropy(logits, y, reduction=loss_reduction)
        if weight_decay:
            loss = loss + 0.5 * weight_decay * sum(w.pow(2).sum() for w in weight_parameters(model))
        return loss, logits

    return objective


OBJECTIVES: dict[str, Callable[..., Objective]] = {"plain": weight_decay_objective}


def make_objective(spec: dict) -> Objective:
    """Build the objective named by spec["name"] with the remaining keys as options."""
    options = {k: v for k, v in spec.items() if k != "name"}
    if spec["name"] not in OBJECTIVES:
        raise ValueError(f"unknown objective {spec['name']!r}; allowed: {', '.join(sorted(OBJECTIVES))}")
    return OBJECTIVES[spec["name"]](**options)


def learning_rate(spec: dict, epoch: int) -> float:
    """lr decayed linearly from spec["lr"] at epoch 0 to lr * spec["lr_final_fraction"] at the last epoch."""
    fraction = spec.get("lr_final_fraction", 1.0)
    progress = epoch / max(spec["epochs"] - 1, 1)
    return spec["lr"] * (1 - progress * (1 - fraction))


def train(
    model: nn.Module,
    images: torch.Tensor,
    labels: torch.Tensor,
    *,
    spec: dict,
    seed: int,
    checkpoint: str | Path,
    checkpoint_every: int,
    name: str = "model",
) -> list[dict]:
    """Train `model` in place with SGD + momentum on (images, labels), already on the model's device.

    spec: {"objective": {...}, "epochs", "batch_size", "lr", "momentum", "lr_final_fraction"}.
    Every `checkpoint_every` epochs the state goes atomically to `checkpoint`; a later call with
    the same spec resumes from it and ends with the same weights as an uninterrupted run.
    Returns the per-epoch history (mean loss, training error on the batches, lr).
    """
    device = images.device
    objective = make_objective(spec["objective"])
    optimizer = torch.optim.SGD(model.parameters(), lr=spec["lr"], momentum=spec["momentum"])
    history: list[dict] = []
    start_epoch = 0
    checkpoint = Path(checkpoint)
    spec_hash = config_hash({"spec": spec, "seed": seed})
    torch.manual_seed(seed)
    if checkpoint.exists():
        state = load_tensors(checkpoint, device)
        if state["spec_hash"] == spec_hash:
            model.load_state_dict(state["model"])
            optimizer.load_state_dict(state["optimizer"])
            torch.set_rng_state(state["rng"].cpu())
            history, start_epoch = state["history"], state["epoch"]
            print(f"[{name}] resuming from {checkpoint} at epoch {start_epoch}", file=sys.stderr)
    n = len(labels)
    summed_loss = spec["objective"].get("loss_reduction", "mean") == "sum"
    model.train()
    bar = tqdm(range(start_epoch, spec["epochs"]), desc=name, initial=start_epoch, total=spec["epochs"],
               file=sys.stderr, mininterval=2.0)
    for epoch in bar:
        lr = learning_rate(spec, epoch)
        for group in optimizer.param_groups:
            group["lr"] = lr
        order = torch.randperm(n, generator=torch.Generator().manual_seed(seed * 1_000_003 + epoch)).to(device)
        total_loss = torch.zeros((), device=device)
        wrong = torch.zeros((), device=device)
        for batch in order.split(spec["batch_size"]):
            x, y = images[batch], labels[batch]
            loss, logits = objective(model, x, y)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            with torch.no_grad():
                total_loss += loss.detach() * (1 if summed_loss else len(batch))
                wrong += (logits.argmax(1) != y).sum()
        mean_loss = total_loss.item() / n
        if not math.isfinite(mean_loss):
            raise FloatingPointError(f"[{name}] training diverged at epoch {epoch + 1}: loss is {mean_loss}")
        history.append({"epoch": epoch + 1, "loss": mean_loss, "train_error": wrong.item() / n, "lr": lr})
        bar.set_postfix(loss=f"{mean_loss:.4f}", err=f"{wrong.item() / n:.4f}", refresh=False)
        if (epoch + 1) % checkpoint_every == 0 or epoch + 1 == spec["epochs"]:
            save_tensors(checkpoint, {
                "spec_hash": spec_hash, "epoch": epoch + 1, "history": history, "rng": torch.get_rng_state(),
                "model": model.state_dict(), "optimizer": optimizer.state_dict(),
            })
    model.eval()
    return history
