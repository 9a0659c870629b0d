"""What a probe (config/scales/probe.yaml) measures of a training job at full size besides its step times: the
FLOPs of one training step and of one forward pass per example (torch.utils.flop_counter's formulas), the operators
a step dispatches, the parameters, and the peak memory (RSS; on a GPU also CUDA's max allocated)."""

from __future__ import annotations

import resource
import sys

import torch
from torch import nn
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils.flop_counter import flop_registry

from advrepro.inference import predict
from advrepro.objectives import make_objective
from advrepro.training import make_optimizer, sgd_step


class _FlopCount(TorchDispatchMode):
    """Sums torch.utils.flop_counter's formulas over the operators dispatched while active, and counts the operators
    (FlopCounterMode itself tracks modules with hooks that autograd.grad, used by the gradient-regularized
    objectives, refuses)."""

    def __init__(self):
        super().__init__()
        self.total, self.operators = 0, 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        self.operators += 1
        if func._overloadpacket in flop_registry:
            self.total += flop_registry[func._overloadpacket](*args, **(kwargs or {}), out_val=out)
        return out


def count(fn) -> tuple[int, int]:
    """(floating-point operations, operators dispatched) of one call of `fn`."""
    with _FlopCount() as counter:
        fn()
    return counter.total, counter.operators


def flops(fn) -> int:
    """The floating-point operations of one call of `fn` (torch.utils.flop_counter's formulas)."""
    return count(fn)[0]


def peak_memory(device: torch.device) -> dict:
    """The process's peak resident memory (bytes; Linux reports ru_maxrss in KiB, macOS in bytes) and, on a GPU,
    CUDA's max allocated bytes since the process started."""
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * (1 if sys.platform == "darwin" else 1024)
    memory = {"peak_rss_bytes": rss}
    if device.type == "cuda":
        memory["cuda_max_allocated_bytes"] = torch.cuda.max_memory_allocated(device)
    return memory


def measure(model: nn.Module, training: dict, images: torch.Tensor, labels: torch.Tensor) -> dict:
    """A trained-for-a-few-steps model's cost per example: one more training step of its objective, optimizer and
    projection on a batch of its registry size (it changes the weights: call it last), and one forward pass in
    eval mode; their FLOPs per example, the operators a step dispatches, the parameters and the peak memory."""
    batch = min(training["batch_size"], len(labels))
    x, y = images[:batch], labels[:batch]
    forward, _ = count(lambda: predict(model, x, batch))
    model.train()
    objective, optimizer = make_objective(training["objective"]), make_optimizer(model, training)
    step, operators = count(lambda: sgd_step(model, objective, optimizer, x, y))
    model.eval()
    return {"batch_size": batch, "parameters": sum(p.numel() for p in model.parameters()),
            "flops_per_example": step / batch, "forward_flops_per_example": forward / batch,
            "operators_per_step": operators, **peak_memory(images.device)}


SECOND_STAGES = ("two_stage", "early_stopping_retrain")
"""The protocols whose final stage follows a first stage (rule train_first_stage)."""


def first_stage_stand_in(training: dict) -> dict:
    """What a probe of a second stage passes for the first stage's record, which it does not wait for: the best
    epoch 1 at step 0 with the registry's rate and momentum, and a target never reached (the probe stops first),
    so the second stage runs on every example as it would after a real first stage."""
    return {"best_epoch": 1, "steps_at_best": 0, "best_error": 1.0, "lr": training["lr"],
            "momentum": training["momentum"], "target_objective": 0.0, "target_kind": "objective", "probe": True}
