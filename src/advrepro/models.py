"""Model builders, looked up by the registry's `architecture` name."""

from __future__ import annotations

from typing import Callable

from torch import nn

INPUT_SHAPES = {"mnist": (1, 28, 28), "cifar10": (3, 32, 32)}


def softmax_regression(input_shape: tuple, n_classes: int = 10) -> nn.Module:
    """Single-layer softmax model on flattened pixels (Lyu section V, Goodfellow section 4)."""
    n_inputs = 1
    for size in input_shape:
        n_inputs *= size
    return nn.Sequential(nn.Flatten(), nn.Linear(n_inputs, n_classes))


BUILDERS: dict[str, Callable[..., nn.Module]] = {
    "softmax_regression": softmax_regression,
}


def build(architecture: str, dataset: str, **options) -> nn.Module:
    """Build `architecture` for `dataset`; unknown names fail with the allowed ones."""
    if architecture not in BUILDERS:
        raise ValueError(f"unknown architecture {architecture!r}; allowed: {', '.join(sorted(BUILDERS))}")
    return BUILDERS[architecture](INPUT_SHAPES[dataset], **options)


def weight_parameters(model: nn.Module) -> list[nn.Parameter]:
    """Weights (not biases) of every layer: what L2 weight decay penalizes."""
    return [p for name, p in model.named_parameters() if not name.endswith("bias")]
