"""One training loop for every model: pylearn2's momentum rule and schedules, max-norm constraints,
early stopping, the two-stage protocol, seeded shuffles, progress, checkpoint/resume.

Protocols (spec["protocol"]["kind"]):
  fixed           spec["epochs"] epochs on every example given.
  early_stopping  hold out the last `validation_fraction` of the examples, stop after `patience`
                  epochs without a lower held-out error, keep the best epoch's weights, and record
                  the training objective there (Goodfellow et al. 2013, pylearn2 mnist_pi.yaml).
  two_stage       early stopping as the first stage; `train(..., first_stage=record)` then continues
                  on every example until the held-out part's objective falls to the recorded training
                  objective (pylearn2 mnist_pi_continued.yaml, MatchChannel; Lyu et al. 2015 IV-A).
  early_stopping_retrain
                  early stopping as the first stage; `train(..., first_stage=record)` then trains a fresh
                  model on every example for the first stage's best number of epochs (Goodfellow et al.
                  2014, section 6: "retrained on all 60,000 examples").
Early stopping validates on clean held-out examples, or with protocol["validation_attack"] = {"p", "eps"}
on their one-step adversarial versions (Goodfellow et al. 2014: adversarial validation error).
"""

from __future__ import annotations

import contextlib
import copy
import math
import signal
import sys
import threading
from pathlib import Path
from typing import Iterator

import torch
from torch import nn
from tqdm import tqdm

from advrepro.evaluate import fgsm_sweep, predict
from advrepro.io import UnreadableFile, load_tensors, save_tensors
from advrepro.models import parameter_groups, project_max_norm_
from advrepro.objectives import Objective, make_objective
from advrepro.provenance import config_hash, tensor_digest


class MomentumSGD(torch.optim.Optimizer):
    """pylearn2's Momentum learning rule: v <- m v - lr * lr_scale * g; theta <- theta + v.

    The learning rate sits inside the velocity, so a changing rate acts differently than in
    torch.optim.SGD (pylearn2 training_algorithms/learning_rule.py). Groups may carry `lr_scale`.
    """

    def __init__(self, groups, lr: float, momentum: float):
        super().__init__(groups, {"lr": lr, "momentum": momentum, "lr_scale": 1.0})

    @torch.no_grad()
    def step(self, closure=None):
        for group in self.param_groups:
            rate = group["lr"] * group["lr_scale"]
            for param in group["params"]:
                if param.grad is None:
                    continue
                velocity = self.state[param].setdefault("velocity", torch.zeros_like(param))
                velocity.mul_(group["momentum"]).add_(param.grad, alpha=-rate)
                param.add_(velocity)


def make_optimizer(model: nn.Module, spec: dict) -> torch.optim.Optimizer:
    """The optimizer named by spec["optimizer"]["kind"] (default pylearn2_momentum).

    pylearn2_momentum: MomentumSGD over the model's lr_scale groups (the maxout recipes).
    sgd: torch.optim.SGD with `dampening` and `weight_decay` (added to the gradient, biases
    included). With dampening = momentum it is Torch7 optim.sgd (Shaham et al. 2015, whose first
    step stores the raw gradient, as torch's does); with dampening 0, MatConvNet's update
    v <- m v - wd w - grad; w <- w + lr v (Tanay & Griffin 2016's LeNet).
    """
    options = dict(spec.get("optimizer", {"kind": "pylearn2_momentum"}))
    kind = options.pop("kind")
    if kind == "pylearn2_momentum":
        return MomentumSGD(parameter_groups(model), lr=spec["lr"], momentum=spec["momentum"])
    if kind == "sgd":
        if any(group["lr_scale"] != 1.0 for group in parameter_groups(model)):
            raise ValueError("lr_scale is pylearn2's: train this model with optimizer kind pylearn2_momentum")
        return torch.optim.SGD(model.parameters(), lr=spec["lr"], momentum=spec["momentum"],
                               dampening=options.get("dampening", 0.0), weight_decay=options.get("weight_decay", 0.0))
    raise ValueError(f"unknown optimizer kind {kind!r}; allowed: pylearn2_momentum, sgd")


def _progress(epoch: int, saturate_epoch: int) -> float:
    """Linear progress from 0 at the first epoch (0-based index 0) to 1 at `saturate_epoch` (1-based)."""
    return min(epoch / max(saturate_epoch - 1, 1), 1.0)


def learning_rate(spec: dict, epoch: int, step: int) -> float:
    """The rate for minibatch `step` (counted over the whole run) of 0-based `epoch`.

    lr_schedule kinds: constant; linear (to lr * final_fraction at saturate_epoch, by default the
    last epoch: pylearn2 LinearDecayOverEpoch); exponential (lr / factor^step, floored at min_lr:
    pylearn2 ExponentialDecay, applied per minibatch).
    """
    schedule = spec.get("lr_schedule", {"kind": "constant"})
    if schedule["kind"] == "constant":
        return spec["lr"]
    if schedule["kind"] == "linear":
        progress = _progress(epoch, schedule.get("saturate_epoch", spec["epochs"]))
        return spec["lr"] * (1 - progress * (1 - schedule["final_fraction"]))
    if schedule["kind"] == "exponential":
        return max(spec["lr"] / schedule["factor"] ** step, schedule["min_lr"])
    if schedule["kind"] == "inverse_time":
        steps_down = (epoch + 1) // schedule["every"] if "every" in schedule else 0
        return spec["lr"] * schedule.get("factor", 1.0) ** steps_down / (1 + step * schedule["decay"])
    raise ValueError(f"unknown lr_schedule kind {schedule['kind']!r}; allowed: constant, linear, exponential, "
                     "inverse_time")


def momentum(spec: dict, epoch: int) -> float:
    """Momentum at 0-based `epoch`: linear from spec["momentum"] to momentum_schedule.final at its
    saturate_epoch (pylearn2 MomentumAdjustor), constant without a schedule."""
    schedule = spec.get("momentum_schedule")
    if schedule is None:
        return spec["momentum"]
    progress = _progress(epoch, schedule["saturate_epoch"])
    return spec["momentum"] + progress * (schedule["final"] - spec["momentum"])


def held_out_split(n: int, protocol: dict) -> int:
    """Number of leading examples trained on in the first stage; the rest is held out (pylearn2
    takes the last 10k of MNIST's 60k and of CIFAR-10's 50k as validation)."""
    held_out = round(n * protocol["validation_fraction"])
    if not 0 < held_out < n:
        raise ValueError(f"validation_fraction {protocol['validation_fraction']} leaves no examples on one side of {n}")
    return n - held_out


def _loss_total(loss: torch.Tensor, batch: int, summed: bool) -> torch.Tensor:
    """A batch's loss as a sum over its examples (objectives report a mean or a sum)."""
    return loss.detach() * (1 if summed else batch)


def mean_objective(model: nn.Module, objective: Objective, x: torch.Tensor, y: torch.Tensor, batch_size: int,
                   summed: bool) -> float:
    """The objective per example over (x, y), in the model's current mode, without updating it
    (pylearn2's monitor of the cost on a dataset)."""
    total = torch.zeros((), device=x.device)
    for xb, yb in zip(x.split(batch_size), y.split(batch_size)):
        total += _loss_total(objective(model, xb, yb)[0], len(yb), summed)
    return total.item() / len(y)


def error_rate(model: nn.Module, x: torch.Tensor, y: torch.Tensor, batch_size: int = 10_000) -> float:
    """Misclassification rate in eval mode; the model's mode is restored."""
    return (predict(model, x, batch_size).argmax(1) != y).double().mean().item()


def sgd_step(model: nn.Module, objective: Objective, optimizer: torch.optim.Optimizer, x: torch.Tensor,
             y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """One update: the objective, backward, the optimizer's step, then the max-norm projection."""
    loss, logits = objective(model, x, y)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()
    project_max_norm_(model)
    return loss, logits


def _rng_state() -> dict:
    state = {"cpu": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _set_rng_state(state: dict) -> None:
    torch.set_rng_state(state["cpu"].cpu())
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all([s.cpu() for s in state["cuda"]])


def _resumable_state(checkpoint: Path, fingerprint: str, device, name: str) -> dict | None:
    """The checkpoint's saved state when it was written for this exact setup; None otherwise. A checkpoint
    of another setup is discarded and an unreadable one set aside (as <name>.corrupt), each with a message."""
    try:
        saved = load_tensors(checkpoint, device)
    except UnreadableFile as error:
        aside = checkpoint.with_name(checkpoint.name + ".corrupt")
        checkpoint.replace(aside)
        print(f"[{name}] {error} Set aside as {aside}; training from the start.", file=sys.stderr)
        return None
    if saved.get("fingerprint") != fingerprint:
        checkpoint.unlink()
        print(f"[{name}] {checkpoint} was saved for another setup (model spec, data, seed or code changed since); "
              "discarded it, training from the start.", file=sys.stderr)
        return None
    return saved


class Preempted(RuntimeError):
    """Training stopped on SIGTERM (a cluster preempting the job) after saving a checkpoint."""


@contextlib.contextmanager
def _sigterm_flag() -> Iterator[dict]:
    """{"set": bool} that turns True on SIGTERM while the block runs (main thread only)."""
    flag = {"set": False}
    if threading.current_thread() is not threading.main_thread():
        yield flag
        return
    previous = signal.signal(signal.SIGTERM, lambda signum, frame: flag.update(set=True))
    try:
        yield flag
    finally:
        signal.signal(signal.SIGTERM, previous)


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
    first_stage: dict | None = None,
    monitor: tuple[torch.Tensor, torch.Tensor] | None = None,
    setup: dict | None = None,
) -> dict:
    """Train `model` in place on (images, labels), already on the model's device.

    spec: {"objective", "epochs", "batch_size", "lr", "momentum"} and optionally "optimizer",
    "lr_schedule", "momentum_schedule", "protocol" (see the module docstring). With `first_stage` (the record a
    two-stage model's first stage returned) the second stage runs, for at most
    protocol["continue_max_epochs"] epochs. Every `checkpoint_every` epochs, and at the next
    minibatch after a SIGTERM (then raising Preempted), the state goes atomically to `checkpoint`;
    a later call with the same arguments resumes from it, mid-epoch if need be, and ends with the
    same weights as an uninterrupted run. The checkpoint is resumed only if it was written for the same
    setup: the training spec, seed and stage, the model's architecture, the data given (a digest of the
    tensors) and `setup` (what else the caller knows: the whole registry entry, the code); otherwise it is
    discarded, and an unreadable one set aside, with a message. `monitor` = (images, labels), e.g. the test split, adds
    their error after every epoch to the history ("monitor_error"); it never steers training.
    Returns {"history": per-epoch records, "stop": why it stopped, "epochs", "steps", ...}; the
    first stage also returns "best_epoch", "best_error", "target_objective", "lr", "momentum".
    """
    device = images.device
    protocol = spec.get("protocol", {"kind": "fixed"})
    objective = make_objective(spec["objective"])
    summed = spec["objective"].get("loss_reduction", "mean") == "sum"
    early_stopping = protocol["kind"] != "fixed" and first_stage is None
    retrain = protocol["kind"] == "early_stopping_retrain" and first_stage is not None
    held_out = None
    if protocol["kind"] != "fixed" and not retrain:
        split = held_out_split(len(labels), protocol)
        held_out = (images[split:], labels[split:])
        if early_stopping:
            images, labels = images[:split], labels[:split]
    if first_stage is None:
        start_epoch, start_step, max_epochs = 0, 0, spec["epochs"]
    elif retrain:  # from scratch: the caller passes a freshly initialised model
        start_epoch, start_step, max_epochs = 0, 0, first_stage["best_epoch"]
    else:
        start_epoch, start_step = first_stage["best_epoch"], first_stage["steps_at_best"]
        max_epochs = start_epoch + protocol["continue_max_epochs"]

    optimizer = make_optimizer(model, spec)
    state = {"epoch": start_epoch, "step": start_step, "batch": 0, "partial": torch.zeros(2, device=device),
             "history": [], "best": None, "stop": "epochs"}
    checkpoint = Path(checkpoint)
    stage_key = first_stage and first_stage.get("target_objective", first_stage["best_epoch"])
    fingerprint = config_hash({"spec": spec, "seed": seed, "first_stage": stage_key, "model": repr(model),
                               "data": tensor_digest(images, labels), "setup": setup})

    def save() -> None:
        save_tensors(checkpoint, {"fingerprint": fingerprint, "state": state, "rng": _rng_state(),
                                  "model": model.state_dict(), "optimizer": optimizer.state_dict()})

    torch.manual_seed(seed)
    if checkpoint.exists():
        saved = _resumable_state(checkpoint, fingerprint, device, name)
        if saved is not None:
            model.load_state_dict(saved["model"])
            optimizer.load_state_dict(saved["optimizer"])
            _set_rng_state(saved["rng"])
            state = saved["state"]
            print(f"[{name}] resuming from {checkpoint} at epoch {state['epoch']}, batch {state['batch']}",
                  file=sys.stderr)

    n = len(labels)
    model.train()
    bar = tqdm(total=max_epochs, initial=state["epoch"], desc=name, file=sys.stderr, mininterval=2.0)
    with _sigterm_flag() as sigterm:
        while state["epoch"] < max_epochs and state["stop"] == "epochs":
            epoch = state["epoch"]
            for group in optimizer.param_groups:
                group["momentum"] = momentum(spec, epoch)
            order = torch.randperm(n, generator=torch.Generator().manual_seed(seed * 1_000_003 + epoch)).to(device)
            batches = order.split(spec["batch_size"])
            for index in range(state["batch"], len(batches)):
                if sigterm["set"]:
                    state["batch"] = index
                    save()
                    raise Preempted(f"[{name}] stopped by SIGTERM in epoch {epoch + 1} before batch {index + 1}; "
                                    f"checkpoint saved to {checkpoint}, rerun to resume")
                lr = learning_rate(spec, epoch, state["step"])
                for group in optimizer.param_groups:
                    group["lr"] = lr
                x, y = images[batches[index]], labels[batches[index]]
                loss, logits = sgd_step(model, objective, optimizer, x, y)
                state["step"] += 1
                with torch.no_grad():
                    state["partial"] += torch.stack([_loss_total(loss, len(y), summed), (logits.argmax(1) != y).sum()])
            mean_loss, train_error = (state["partial"] / n).tolist()
            if not math.isfinite(mean_loss):
                raise FloatingPointError(f"[{name}] training diverged at epoch {epoch + 1}: loss is {mean_loss}")
            record = {"epoch": epoch + 1, "loss": mean_loss, "train_error": train_error,
                      "lr": learning_rate(spec, epoch, state["step"] - 1), "momentum": optimizer.param_groups[0]["momentum"]}
            state.update(epoch=epoch + 1, batch=0, partial=torch.zeros(2, device=device))
            if monitor is not None:
                record["monitor_error"] = error_rate(model, *monitor)
            if early_stopping:
                _early_stopping_epoch(model, held_out, spec, state, record)
            elif first_stage is not None and not retrain:
                record["held_out_objective"] = mean_objective(model, objective, *held_out, spec["batch_size"], summed)
                if record["held_out_objective"] <= first_stage["target_objective"]:
                    state["stop"] = "held-out objective reached the first stage's training objective"
            state["history"].append(record)
            bar.update(1)
            bar.set_postfix({k: f"{v:.4f}" for k, v in record.items() if k in (
                "loss", "train_error", "valid_error", "held_out_objective")}, refresh=False)
            if state["epoch"] % checkpoint_every == 0 or state["epoch"] == max_epochs or state["stop"] != "epochs":
                save()
    bar.close()
    result = _finish(model, state)
    if early_stopping and protocol["kind"] != "early_stopping_retrain":  # pylearn2's train_objective of
        # the best epoch: the objective on the training part (a retrained run needs only the epoch count)
        model.train()
        result["target_objective"] = mean_objective(model, objective, images, labels, spec["batch_size"], summed)
        model.eval()
    return result


def _early_stopping_epoch(model: nn.Module, held_out: tuple, spec: dict, state: dict, record: dict) -> None:
    """Validate after an epoch (on one-step adversarial examples with protocol["validation_attack"]);
    keep the best weights; stop after `patience` epochs without a lower error."""
    attack = spec["protocol"].get("validation_attack")
    if attack is None:
        record["valid_error"] = error_rate(model, *held_out)
    else:
        (row,) = fgsm_sweep(model, *held_out, epsilons=[attack["eps"]], p=attack.get("p", math.inf), batch_size=1000)
        record["valid_error"] = row["error"]
    best = state["best"]
    if best is None or record["valid_error"] < best["error"]:
        state["best"] = {
            "epoch": state["epoch"], "error": record["valid_error"], "steps": state["step"],
            "lr": record["lr"], "momentum": record["momentum"], "model": copy.deepcopy(model.state_dict()),
        }
    elif state["epoch"] - best["epoch"] >= spec["protocol"]["patience"]:
        state["stop"] = f"no lower validation error for {spec['protocol']['patience']} epochs"


def _finish(model: nn.Module, state: dict) -> dict:
    """Restore the best weights of an early-stopped run; the run's record, JSON-ready."""
    model.eval()
    result = {"history": state["history"], "stop": state["stop"], "epochs": state["epoch"], "steps": state["step"]}
    best = state["best"]
    if best is not None:
        model.load_state_dict(best["model"])
        result.update(best_epoch=best["epoch"], best_error=best["error"], steps_at_best=best["steps"],
                      lr=best["lr"], momentum=best["momentum"])
    return result
