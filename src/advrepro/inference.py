"""Inference on a trained model: batched forward passes (halving the batch when memory runs out),
predictions and their summary (error and confidences). Batched over examples (dim 0); the model's
train/eval mode is left as it was found."""

from __future__ import annotations

import math
import sys
from typing import Callable

import torch
from torch import nn

from advrepro.models import eval_mode

EVAL_BATCH_SIZE = 256
"""Examples per chunk of an evaluation's forward and input-gradient passes (every default below and in the
evaluation kinds). On the CPU a conv net's activations for 256 images stay near the cache: its passes run 1.4-2.9x
faster than in chunks of 10,000 alone, about a quarter faster beside another job (benchmark `eval_chunk`); an MLP's
run as fast either way."""


def map_batches(fn: Callable[..., torch.Tensor], *tensors: torch.Tensor, batch_size: int) -> torch.Tensor:
    """fn over consecutive chunks (dim 0) of `tensors`, concatenated. When a chunk runs out of
    (GPU) memory the batch size is halved and the chunk retried, with a warning on stderr."""
    outputs, start, n = [], 0, len(tensors[0])
    while start < n:
        try:
            outputs.append(fn(*(t[start:start + batch_size] for t in tensors)))
        except torch.OutOfMemoryError:
            if batch_size == 1:
                raise
            batch_size //= 2
            if torch.cuda.is_available():
                torch.cuda.empty_cache()
            print(f"out of memory: evaluating in batches of {batch_size}", file=sys.stderr)
            continue
        start += len(outputs[-1])
    return torch.cat(outputs) if outputs else fn(*tensors)  # no examples (e.g. an empty adversarial set)


@torch.no_grad()
def predict(model: nn.Module, x: torch.Tensor, batch_size: int = EVAL_BATCH_SIZE) -> torch.Tensor:
    """Logits for x in eval mode, computed in chunks of batch_size (halved on running out of memory)."""
    with eval_mode(model):
        return map_batches(model, x, batch_size=batch_size)


def error_rate(model: nn.Module, x: torch.Tensor, y: torch.Tensor, batch_size: int = EVAL_BATCH_SIZE) -> float:
    """Misclassification rate in eval mode; the model's mode is restored."""
    return (predict(model, x, batch_size).argmax(1) != y).double().mean().item()


def summary(logits: torch.Tensor, y: torch.Tensor) -> dict:
    """Error, the mean probability of the predicted class, and that mean over the errors only
    (Goodfellow et al. 2014's "confidence on wrong predictions"; nan without errors)."""
    confidence, predicted = logits.softmax(1).max(1)
    wrong = predicted != y
    return {"error": wrong.double().mean().item(), "mean_confidence": confidence.mean().item(),
            "confidence_on_errors": confidence[wrong].mean().item() if wrong.any() else math.nan, "n": len(y)}
