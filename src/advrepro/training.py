"""One training loop for every model: optimizers and schedules (pylearn2's momentum rule, Torch7/MatConvNet
SGD), max-norm constraints, seeded shuffles, progress, checkpoint/resume; the protocols that say what a
stage trains on, for how many epochs and what happens after each epoch.

Protocols (spec["protocol"]["kind"], registered in PROTOCOLS):
  fixed           spec["epochs"] epochs on every example given.
  early_stopping  hold out the last `validation_fraction` of the examples, stop after `patience`
                  epochs without a lower held-out error, keep the best epoch's weights, and record
                  the training objective there (Goodfellow et al. 2013, pylearn2 mnist_pi.yaml).
  two_stage       early stopping as the first stage; `train(..., first_stage=record)` then continues
                  on every example until the held-out part's objective falls to the recorded training
                  objective (pylearn2 mnist_pi_continued.yaml, MatchChannel; Lyu et al. 2015 IV-A), or with
                  stop_on="clean_nll" until its clean NLL (eval mode) falls to the first stage's clean NLL on
                  the examples it trained on (mnist_continued.yaml, ChannelTarget). `hold` keeps the momentum,
                  or the learning rate and the momentum, at their best-epoch values instead of continuing
                  their schedules (mnist_pi_continued.yaml holds the momentum; mnist_continued.yaml both).
  early_stopping_retrain
                  early stopping as the first stage; `train(..., first_stage=record)` then trains a fresh
                  model on every example for the first stage's best number of epochs (Goodfellow et al.
                  2014, section 6: "retrained on all 60,000 examples").
Early stopping validates on clean held-out examples, or with protocol["validation_attack"] = {"p", "eps"}
on their one-step adversarial versions (Goodfellow et al. 2014: adversarial validation error).
Every epoch walks the examples in a seeded random order, or with spec["shuffle"] = False in their stored
order (Shaham et al. 2015's Torch code for MNIST).
"""

from __future__ import annotations

import contextlib
import copy
import math
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Iterator, Literal, NamedTuple

import torch
from torch import nn
from tqdm import tqdm

from advrepro.attacks import one_step
from advrepro.data import held_out_split
from advrepro.inference import EVAL_BATCH_SIZE, error_rate, map_batches, predict
from advrepro.io import UnreadableFile, load_tensors, save_tensors
from advrepro.kinds import Kinds
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


# --- optimizers and learning-rate schedules, chosen by name in the registry ---------------------------

OPTIMIZERS = Kinds("optimizer", fixed=("model", "lr", "momentum"))
"""(model, lr, momentum, **registry options) -> torch.optim.Optimizer."""


@OPTIMIZERS.register()
def pylearn2_momentum(model: nn.Module, lr: float, momentum: float) -> torch.optim.Optimizer:
    """MomentumSGD over the model's lr_scale groups (the maxout recipes)."""
    return MomentumSGD(parameter_groups(model), lr=lr, momentum=momentum)


def _unscaled_parameters(model: nn.Module, kind: str) -> list[nn.Parameter]:
    """The model's parameters, for an optimizer `kind` that has no per-layer learning-rate scales."""
    if any(group["lr_scale"] != 1.0 for group in parameter_groups(model)):
        raise ValueError(f"lr_scale is pylearn2's: optimizer kind {kind} needs every layer's lr scale at 1 "
                         "(or train the model with optimizer kind pylearn2_momentum)")
    return list(model.parameters())


@OPTIMIZERS.register()
def sgd(model: nn.Module, lr: float, momentum: float, dampening: float = 0.0,
        weight_decay: float = 0.0) -> torch.optim.Optimizer:
    """torch.optim.SGD, `weight_decay` added to the gradient (biases included). With dampening = momentum it is
    Torch7 optim.sgd (Shaham et al. 2015, whose first step stores the raw gradient, as torch's does); with
    dampening 0, MatConvNet's update v <- m v - wd w - grad; w <- w + lr v (Tanay & Griffin 2016's LeNet)."""
    return torch.optim.SGD(_unscaled_parameters(model, "sgd"), lr=lr, momentum=momentum, dampening=dampening,
                           weight_decay=weight_decay)


@OPTIMIZERS.register()
def adam(model: nn.Module, lr: float, momentum: float) -> torch.optim.Optimizer:
    """torch.optim.Adam (betas .9, .999), for reduced scales only: no paper trained with it. Adam's first moment
    takes the place of the registry's momentum, which it ignores."""
    return torch.optim.Adam(_unscaled_parameters(model, "adam"), lr=lr)


def make_optimizer(model: nn.Module, spec: dict) -> torch.optim.Optimizer:
    """The optimizer named by spec["optimizer"]["kind"] (default pylearn2_momentum) with its options."""
    options = dict(spec.get("optimizer", {"kind": "pylearn2_momentum"}))
    return OPTIMIZERS.lookup(options.pop("kind"))(model, spec["lr"], spec["momentum"], **options)


def _progress(epoch: int, saturate_epoch: int) -> float:
    """Linear progress from 0 at the first epoch (0-based index 0) to 1 at `saturate_epoch` (1-based)."""
    return min(epoch / max(saturate_epoch - 1, 1), 1.0)


SCHEDULES = Kinds("lr_schedule", fixed=("lr", "epochs", "epoch", "step"))
"""(base lr, epochs of the run, 0-based epoch, minibatch step over the whole run, **options) -> the rate."""


@SCHEDULES.register()
def constant(lr: float, epochs: int, epoch: int, step: int) -> float:
    return lr


@SCHEDULES.register()
def linear(lr: float, epochs: int, epoch: int, step: int, final_fraction: float,
           saturate_epoch: int | None = None) -> float:
    """To lr * final_fraction at saturate_epoch, by default the last epoch (pylearn2 LinearDecayOverEpoch)."""
    return lr * (1 - _progress(epoch, saturate_epoch or epochs) * (1 - final_fraction))


@SCHEDULES.register()
def exponential(lr: float, epochs: int, epoch: int, step: int, factor: float, min_lr: float) -> float:
    """lr / factor^step, floored at min_lr (pylearn2 ExponentialDecay, applied per minibatch)."""
    return max(lr / factor ** step, min_lr)


@SCHEDULES.register()
def inverse_time(lr: float, epochs: int, epoch: int, step: int, decay: float, factor: float = 1.0,
                 every: int | None = None) -> float:
    """lr / (1 + step * decay) (Torch7 learningRateDecay), times `factor` every `every` epochs."""
    steps_down = (epoch + 1) // every if every else 0
    return lr * factor ** steps_down / (1 + step * decay)


def learning_rate(spec: dict, epoch: int, step: int) -> float:
    """The rate for minibatch `step` (counted over the whole run) of 0-based `epoch` (spec["lr_schedule"])."""
    options = dict(spec.get("lr_schedule", {"kind": "constant"}))
    return SCHEDULES.lookup(options.pop("kind"))(spec["lr"], spec.get("epochs"), epoch, step, **options)


def momentum(spec: dict, epoch: int) -> float:
    """Momentum at 0-based `epoch`: linear from spec["momentum"] to momentum_schedule.final at its
    saturate_epoch (pylearn2 MomentumAdjustor), constant without a schedule."""
    schedule = spec.get("momentum_schedule")
    if schedule is None:
        return spec["momentum"]
    progress = _progress(epoch, schedule["saturate_epoch"])
    return spec["momentum"] + progress * (schedule["final"] - spec["momentum"])


# --- one step, the objective over a dataset ------------------------------------------------------------


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


def sgd_step(model: nn.Module, objective: Objective, optimizer: torch.optim.Optimizer, x: torch.Tensor,
             y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """One update: the objective, backward, the optimizer's step, then the max-norm projection."""
    loss, logits = objective(model, x, y)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()
    project_max_norm_(model)
    return loss, logits


def adversarial_error(model: nn.Module, x: torch.Tensor, y: torch.Tensor, *, eps: float, p: float = math.inf,
                      batch_size: int = EVAL_BATCH_SIZE) -> float:
    """Error on the one-step adversarial examples of (x, y) (Goodfellow et al. 2014's adversarial validation)."""
    wrong = map_batches(lambda xb, yb: predict(model, one_step(model, xb, yb, p=p, eps=eps)).argmax(1) != yb,
                        x, y, batch_size=batch_size)
    return wrong.double().mean().item()


# --- protocols: what a stage trains on, its epochs, what happens after an epoch --------------------------


class Stage(NamedTuple):
    """What a protocol needs to plan a stage: the training spec, all examples given, the objective (and whether
    it sums over the batch), and the record of the first stage when this is a second one."""

    spec: dict
    images: torch.Tensor
    labels: torch.Tensor
    objective: Objective
    summed: bool
    first_stage: dict | None


class Protocol:
    """A stage trained for epochs [first_epoch, end_epoch) on (images, labels), from minibatch step first_step,
    with the rates of `spec` (by default the stage's). `after_epoch` may add to the epoch's record and stop the
    run; `finish` may add to the stage's result."""

    def __init__(self, stage: Stage, images, labels, first_epoch: int, end_epoch: int, first_step: int = 0,
                 spec: dict | None = None):
        self.stage, self.images, self.labels = stage, images, labels
        self.first_epoch, self.end_epoch, self.first_step = first_epoch, end_epoch, first_step
        self.spec = stage.spec if spec is None else spec

    def after_epoch(self, model: nn.Module, state: dict, record: dict) -> None:
        """Nothing: a fixed number of epochs."""

    def finish(self, model: nn.Module, result: dict) -> None:
        """Nothing to add."""


Target = Literal["objective", "clean_nll"]
"""What a two-stage model's second stage drives down to the first stage's value: the training objective (in
training mode, dropout on; pylearn2 MatchChannel) or the clean cross-entropy (eval mode; ChannelTarget on y_nll)."""


def clean_nll(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    """Mean cross-entropy in eval mode (no dropout): pylearn2's y_nll monitoring channel."""
    return nn.functional.cross_entropy(predict(model, x), y).item()


class EarlyStopping(Protocol):
    """Train on the head, validate on the held-out tail after every epoch (clean or one-step adversarial
    error), keep the best weights, stop after `patience` epochs without improvement; with a `target` the best
    weights' training objective or clean NLL on the head is recorded (a second stage's target)."""

    def __init__(self, stage: Stage, validation_fraction: float, patience: int, validation_attack: dict | None,
                 target: Target | None):
        split = held_out_split(len(stage.labels), {"validation_fraction": validation_fraction})
        super().__init__(stage, stage.images[:split], stage.labels[:split], 0, stage.spec["epochs"])
        self.held_out = (stage.images[split:], stage.labels[split:])
        self.patience, self.attack, self.target = patience, validation_attack, target

    def after_epoch(self, model: nn.Module, state: dict, record: dict) -> None:
        record["valid_error"] = (error_rate(model, *self.held_out) if self.attack is None else
                                 adversarial_error(model, *self.held_out, eps=self.attack["eps"],
                                                   p=self.attack.get("p", math.inf)))
        best = state["best"]
        if best is None or record["valid_error"] < best["error"]:
            state["best"] = {
                "epoch": state["epoch"], "error": record["valid_error"], "steps": state["step"],
                "lr": record["lr"], "momentum": record["momentum"], "model": copy.deepcopy(model.state_dict()),
            }
        elif state["epoch"] - best["epoch"] >= self.patience:
            state["stop"] = f"no lower validation error for {self.patience} epochs"

    def finish(self, model: nn.Module, result: dict) -> None:
        if self.target == "clean_nll":
            result["target_objective"] = clean_nll(model, self.images, self.labels)
        elif self.target == "objective":
            model.train()
            result["target_objective"] = mean_objective(model, self.stage.objective, self.images, self.labels,
                                                        self.stage.spec["batch_size"], self.stage.summed)
            model.eval()
        if self.target is not None:
            result["target_kind"] = self.target


Hold = Literal["none", "momentum", "lr_and_momentum"]


def held_spec(spec: dict, first_stage: dict, hold: Hold) -> dict:
    """The training spec of a second stage: `hold` keeps the momentum (and the learning rate) at the first stage's
    best epoch, as pylearn2's monitor recorded them there (the rate after that epoch's last decay), instead of
    continuing their schedules (mnist_pi_continued.yaml: init_momentum .694, no MomentumAdjustor;
    mnist_continued.yaml: learning_rate and momentum read from the stage-one monitor, no update callbacks)."""
    held = dict(spec)
    if hold != "none":
        held.pop("momentum_schedule", None)
        held["momentum"] = first_stage["momentum"]
    if hold == "lr_and_momentum":
        held["lr"] = learning_rate(spec, first_stage["best_epoch"] - 1, first_stage["steps_at_best"])
        held["lr_schedule"] = {"kind": "constant"}
    return held


class UntilTarget(Protocol):
    """The second stage of two_stage: every example, from the first stage's best epoch and step, until the
    held-out tail's objective (or clean NLL) falls to the first stage's target, at most `continue_max_epochs`."""

    def __init__(self, stage: Stage, validation_fraction: float, continue_max_epochs: int, stop_on: Target,
                 hold: Hold):
        first = stage.first_stage
        super().__init__(stage, stage.images, stage.labels, first["best_epoch"],
                         first["best_epoch"] + continue_max_epochs, first["steps_at_best"],
                         held_spec(stage.spec, first, hold))
        split = held_out_split(len(stage.labels), {"validation_fraction": validation_fraction})
        self.held_out, self.stop_on = (stage.images[split:], stage.labels[split:]), stop_on

    def after_epoch(self, model: nn.Module, state: dict, record: dict) -> None:
        if self.stop_on == "clean_nll":
            value = record["held_out_clean_nll"] = clean_nll(model, *self.held_out)
        else:
            value = record["held_out_objective"] = mean_objective(model, self.stage.objective, *self.held_out,
                                                                  self.stage.spec["batch_size"], self.stage.summed)
        if value <= self.stage.first_stage["target_objective"]:
            state["stop"] = f"held-out {self.stop_on.replace('_', ' ')} reached the first stage's target"


PROTOCOLS = Kinds("protocol", fixed=("stage",))
"""(stage, **registry options) -> the Protocol of that stage."""


@PROTOCOLS.register()
def fixed(stage: Stage) -> Protocol:
    return Protocol(stage, stage.images, stage.labels, 0, stage.spec["epochs"])


@PROTOCOLS.register()
def early_stopping(stage: Stage, validation_fraction: float, patience: int,
                   validation_attack: dict | None = None) -> Protocol:
    return EarlyStopping(stage, validation_fraction, patience, validation_attack, target="objective")


@PROTOCOLS.register()
def two_stage(stage: Stage, validation_fraction: float, patience: int, continue_max_epochs: int,
              validation_attack: dict | None = None, stop_on: Target = "objective", hold: Hold = "none") -> Protocol:
    """Early stopping, then every example until the held-out part reaches the first stage's `stop_on` target."""
    if stage.first_stage is None:
        return EarlyStopping(stage, validation_fraction, patience, validation_attack, target=stop_on)
    return UntilTarget(stage, validation_fraction, continue_max_epochs, stop_on, hold)


@PROTOCOLS.register()
def early_stopping_retrain(stage: Stage, validation_fraction: float, patience: int,
                           validation_attack: dict | None = None) -> Protocol:
    """The retrained model starts from scratch (the caller passes a freshly initialised one)."""
    if stage.first_stage is None:
        return EarlyStopping(stage, validation_fraction, patience, validation_attack, target=None)
    return Protocol(stage, stage.images, stage.labels, 0, stage.first_stage["best_epoch"])


def make_protocol(stage: Stage) -> Protocol:
    options = dict(stage.spec.get("protocol", {"kind": "fixed"}))
    return PROTOCOLS.lookup(options.pop("kind"))(stage, **options)


# --- checkpoints and preemption ----------------------------------------------------------------------------


def _rng_state() -> dict:
    state = {"cpu": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _set_rng_state(state: dict) -> None:
    torch.set_rng_state(state["cpu"].cpu())
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all([s.cpu() for s in state["cuda"]])


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


class _Checkpoint:
    """Atomic saves of a run's state to `path`, and its resumption when it was written for the same setup."""

    def __init__(self, path: str | Path, fingerprint: str, name: str):
        self.path, self.fingerprint, self.name = Path(path), fingerprint, name

    def save(self, state: dict, model: nn.Module, optimizer: torch.optim.Optimizer) -> None:
        save_tensors(self.path, {"fingerprint": self.fingerprint, "state": state, "rng": _rng_state(),
                                 "model": model.state_dict(), "optimizer": optimizer.state_dict()})

    def _load(self, device) -> dict | None:
        """The saved state when it was written for this exact setup; None otherwise. A checkpoint of another
        setup is discarded and an unreadable one set aside (as <name>.corrupt), each with a message."""
        try:
            saved = load_tensors(self.path, device)
        except UnreadableFile as error:
            aside = self.path.with_name(self.path.name + ".corrupt")
            self.path.replace(aside)
            print(f"[{self.name}] {error} Set aside as {aside}; training from the start.", file=sys.stderr)
            return None
        if saved.get("fingerprint") != self.fingerprint:
            self.path.unlink()
            print(f"[{self.name}] {self.path} was saved for another setup (model spec, data, seed or code changed "
                  "since); discarded it, training from the start.", file=sys.stderr)
            return None
        return saved

    def resume(self, state: dict, model: nn.Module, optimizer: torch.optim.Optimizer, device) -> dict:
        """The saved state (model, optimizer and RNG restored) when there is one for this setup, else `state`."""
        saved = self._load(device) if self.path.exists() else None
        if saved is None:
            return state
        model.load_state_dict(saved["model"])
        optimizer.load_state_dict(saved["optimizer"])
        _set_rng_state(saved["rng"])
        print(f"[{self.name}] resuming from {self.path} at epoch {saved['state']['epoch']}, batch "
              f"{saved['state']['batch']}", file=sys.stderr)
        return saved["state"]


# --- the loop ------------------------------------------------------------------------------------------------


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
    "lr_schedule", "momentum_schedule", "protocol", "shuffle" (see the module docstring), "recompute_batch_norm"
    (recompute_batch_norm_statistics after training), and "max_steps" (a
    probe, limits.max_steps: stop after that many optimizer steps, time each one, skip validation and checkpoints). With `first_stage` (the record
    a two-stage model's first stage returned) the second stage runs. Every `checkpoint_every` epochs, and at
    the next minibatch after a SIGTERM (then raising Preempted), the state goes atomically to `checkpoint`;
    a later call with the same arguments resumes from it, mid-epoch if need be, and ends with the same
    weights as an uninterrupted run. The checkpoint is resumed only if it was written for the same setup:
    the training spec, seed and stage, the model's architecture, the data given (a digest of the tensors)
    and `setup` (what else the caller knows: the whole registry entry, the code); otherwise it is
    discarded, and an unreadable one set aside, with a message. `monitor` = (images, labels), e.g. the test
    split, adds their error after every epoch to the history ("monitor_error"); it never steers training.
    Returns {"history": per-epoch records, "stop": why it stopped, "epochs", "steps", ...} (a probe adds
    "step_seconds", the wall time of each step, and "examples_per_epoch" of its stage); the first stage
    of an early-stopping protocol also returns "best_epoch", "best_error", "steps_at_best", "lr",
    "momentum" and (but for a retrain protocol) "target_objective" with its "target_kind"."""
    objective = make_objective(spec["objective"])
    summed = spec["objective"].get("loss_reduction", "mean") == "sum"
    protocol = make_protocol(Stage(spec, images, labels, objective, summed, first_stage))
    optimizer = make_optimizer(model, spec)
    state = {"epoch": protocol.first_epoch, "step": protocol.first_step, "batch": 0,
             "partial": torch.zeros(2, device=images.device), "history": [], "best": None, "stop": "epochs",
             "step_seconds": []}
    stage_key = first_stage and first_stage.get("target_objective", first_stage["best_epoch"])
    fingerprint = config_hash({"spec": spec, "seed": seed, "first_stage": stage_key, "model": repr(model),
                               "data": tensor_digest(protocol.images, protocol.labels), "setup": setup})
    saver = _Checkpoint(checkpoint, fingerprint, name)
    torch.manual_seed(seed)
    state = saver.resume(state, model, optimizer, images.device)
    model.train()
    _loop(model, objective, optimizer, protocol, state, seed, summed, saver, monitor, checkpoint_every)
    result = _finish(model, state)
    if "max_steps" in spec:
        result.update(step_seconds=state["step_seconds"], examples_per_epoch=len(protocol.labels))
        return result
    if spec.get("recompute_batch_norm"):
        recompute_batch_norm_statistics(model, protocol.images, spec["batch_size"])
    protocol.finish(model, result)
    return result


def _loop(model, objective, optimizer, protocol: Protocol, state: dict, seed: int, summed: bool, saver: _Checkpoint,
          monitor, checkpoint_every: int) -> None:
    """Epochs until the protocol's end or its stop, each followed by the monitor's error, the protocol's
    after_epoch and, every `checkpoint_every` epochs and at the end, a checkpoint; a probe stops at its max_steps."""
    bar = tqdm(total=protocol.end_epoch, initial=state["epoch"], desc=saver.name, file=sys.stderr, mininterval=2.0)
    with _sigterm_flag() as sigterm:
        while state["epoch"] < protocol.end_epoch and state["stop"] == "epochs":
            record = _epoch(model, objective, optimizer, protocol, state, seed, summed, sigterm, saver)
            if state["stop"] == "max_steps":  # a probe: its steps timed, no validation, no checkpoint
                state["history"].append(record)
                break
            if monitor is not None:
                record["monitor_error"] = error_rate(model, *monitor)
            protocol.after_epoch(model, state, record)
            state["history"].append(record)
            bar.update(1)
            bar.set_postfix({k: f"{v:.4f}" for k, v in record.items() if k in (
                "loss", "train_error", "valid_error", "held_out_objective", "held_out_clean_nll")}, refresh=False)
            if state["epoch"] % checkpoint_every == 0 or state["epoch"] == protocol.end_epoch or state["stop"] != "epochs":
                saver.save(state, model, optimizer)
    bar.close()


def epoch_order(n: int, seed: int, epoch: int, shuffle: bool = True) -> torch.Tensor:
    """The order an epoch walks its n examples in: a permutation seeded by (seed, epoch), or with `shuffle` off
    the stored order every epoch (Shaham et al. 2015, RobustTraining mnist/*.lua: `for t = 1,dataset:size()`)."""
    if not shuffle:
        return torch.arange(n)
    return torch.randperm(n, generator=torch.Generator().manual_seed(seed * 1_000_003 + epoch))


def _epoch(model, objective, optimizer, protocol: Protocol, state: dict, seed: int, summed: bool, sigterm: dict,
           saver: _Checkpoint) -> dict:
    """One epoch of minibatch steps in a seeded order, from the saved batch on; its record (mean loss, training
    error, the last rate and the momentum). On SIGTERM: save and raise Preempted."""
    spec, epoch, n = protocol.spec, state["epoch"], len(protocol.labels)
    for group in optimizer.param_groups:
        group["momentum"] = momentum(spec, epoch)
    order = epoch_order(n, seed, epoch, spec.get("shuffle", True)).to(protocol.labels.device)
    batches = order.split(spec["batch_size"])
    for index in range(state["batch"], len(batches)):
        if state["step"] >= spec.get("max_steps", math.inf):
            state["stop"], n = "max_steps", min(n, index * spec["batch_size"])  # the examples it saw
            break
        if sigterm["set"]:
            state["batch"] = index
            saver.save(state, model, optimizer)
            raise Preempted(f"[{saver.name}] stopped by SIGTERM in epoch {epoch + 1} before batch {index + 1}; "
                            f"checkpoint saved to {saver.path}, rerun to resume")
        lr = learning_rate(spec, epoch, state["step"])
        for group in optimizer.param_groups:
            group["lr"] = lr
        started = time.perf_counter()
        x, y = protocol.images[batches[index]], protocol.labels[batches[index]]
        loss, logits = sgd_step(model, objective, optimizer, x, y)
        if "max_steps" in spec:  # a probe times every step (synchronised with the GPU); training never does
            _synchronize(x.device)
            state["step_seconds"].append(time.perf_counter() - started)
        state["step"] += 1
        with torch.no_grad():
            state["partial"] += torch.stack([_loss_total(loss, len(y), summed), (logits.argmax(1) != y).sum()])
    mean_loss, train_error = (state["partial"] / max(n, 1)).tolist()
    if not math.isfinite(mean_loss):
        raise FloatingPointError(f"[{saver.name}] training diverged at epoch {epoch + 1}: loss is {mean_loss}")
    state.update(epoch=epoch + 1, batch=0, partial=torch.zeros(2, device=protocol.labels.device))
    return {"epoch": epoch + 1, "loss": mean_loss, "train_error": train_error,
            "lr": learning_rate(spec, epoch, state["step"] - 1), "momentum": optimizer.param_groups[0]["momentum"]}


def _synchronize(device: torch.device) -> None:
    """Wait for the GPU's queued work (a probe's step timing); nothing on the CPU."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


@torch.no_grad()
def recompute_batch_norm_statistics(model: nn.Module, images: torch.Tensor, batch_size: int) -> None:
    """Every batch-norm layer's running mean and variance recomputed under the final weights: the plain average of
    their batch statistics over `images` in training mode (training spec `recompute_batch_norm`, a reduced-scale
    setting: a few epochs at a high rate leave the exponential running averages behind the weights)."""
    layers = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    if not layers:
        raise ValueError("recompute_batch_norm: the model has no batch-norm layer")
    momenta, was_training = [layer.momentum for layer in layers], model.training
    for layer in layers:
        layer.reset_running_stats()
        layer.momentum = None  # a cumulative average
    model.train()
    for batch in images.split(batch_size):
        model(batch)
    for layer, momentum in zip(layers, momenta):
        layer.momentum = momentum
    model.train(was_training)


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
