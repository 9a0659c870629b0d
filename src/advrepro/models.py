"""Model builders, looked up by the registry's `architecture` name.

The maxout models port the pylearn2 recipes of Goodfellow et al. 2013 ("Maxout Networks",
pylearn2/scripts/papers/maxout/*.yaml); see docs/setups.md section 1 for the semantics copied here.
Layers carry two optional attributes read by the training code: `max_norm` (see `project_max_norm_`)
and `lr_scale` (see `parameter_groups`).
"""

from __future__ import annotations

import contextlib
from typing import Callable, Iterator, NamedTuple

import torch
from torch import nn

from advrepro.data import DATASETS
from advrepro.io import load_tensors
from advrepro.kinds import Kinds
from advrepro.preprocessing import PREPROCESSING

ARCHITECTURES = Kinds("architecture", fixed=("input_shape",))
"""Model builders: (input_shape, **registry options) -> nn.Module."""

PYLEARN2_IRANGE = 0.005  # `irange: .005` of every layer in the maxout configs


def _n_inputs(input_shape: tuple) -> int:
    n_inputs = 1
    for size in input_shape:
        n_inputs *= size
    return n_inputs


@ARCHITECTURES.register()
def softmax_regression(input_shape: tuple, n_classes: int = 10) -> nn.Module:
    """Single-layer softmax model on flattened pixels (Lyu section V, Goodfellow section 4)."""
    return nn.Sequential(nn.Flatten(), nn.Linear(_n_inputs(input_shape), n_classes))


# --- building blocks -------------------------------------------------------------------------------


class PylearnDropout(nn.Module):
    """Dropout as pylearn2's `costs/mlp/dropout.py`: keep each input with `include_prob`, multiply by `scale`.

    Unlike nn.Dropout the scale is free: pylearn2 drops the network input with include .8 and scale 1
    (no rescale in training, none at test time) and every other layer's input with include .5, scale 2.
    Identity in eval mode.
    """

    def __init__(self, include_prob: float, scale: float):
        super().__init__()
        if not 0.0 < include_prob <= 1.0:
            raise ValueError(f"include_prob must be in (0, 1], got {include_prob}")
        self.include_prob = float(include_prob)
        self.scale = float(scale)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or (self.include_prob == 1.0 and self.scale == 1.0):
            return x
        mask = torch.empty_like(x).bernoulli_(self.include_prob)
        return x * mask * self.scale

    def extra_repr(self) -> str:
        return f"include_prob={self.include_prob}, scale={self.scale}"


class Maxout(nn.Module):
    """Max over consecutive groups of `pieces` features along dim 1 (pylearn2 `Maxout`, `MaxoutConvC01B`).

    Output unit j is the max of inputs j*pieces .. j*pieces+pieces-1: fully connected for (N, F)
    inputs, across channels for (N, C, H, W) inputs.
    """

    def __init__(self, pieces: int):
        super().__init__()
        self.pieces = int(pieces)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[1] % self.pieces:
            raise ValueError(f"{x.shape[1]} features are not a multiple of {self.pieces} pieces")
        return x.unflatten(1, (x.shape[1] // self.pieces, self.pieces)).amax(dim=2)

    def extra_repr(self) -> str:
        return f"pieces={self.pieces}"


class UntiedBias(nn.Module):
    """One bias per channel and position (pylearn2 `MaxoutConvC01B` with its default `tied_b: False`)."""

    def __init__(self, shape: tuple[int, int, int]):
        super().__init__()
        self.bias = nn.Parameter(torch.zeros(shape))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.bias

    def extra_repr(self) -> str:
        return f"shape={tuple(self.bias.shape)}"


class _FoldInputGradient(torch.autograd.Function):
    """conv2d (stride 1) whose input gradient is one matrix product and a fold (col2im); weight and bias gradients as
    conv2d's own. Written with differentiable operations, so double backprop goes through it."""

    @staticmethod
    def forward(ctx, x, weight, bias, padding):
        ctx.save_for_backward(x, weight)
        ctx.padding, ctx.has_bias = padding, bias is not None
        return nn.functional.conv2d(x, weight, bias, padding=padding)

    @staticmethod
    def backward(ctx, grad_out):
        x, weight = ctx.saved_tensors
        grad_x = grad_weight = grad_bias = None
        if ctx.needs_input_grad[0]:
            columns = weight.flatten(1).t() @ grad_out.flatten(2)  # (N, C_in k k, L)
            grad_x = nn.functional.fold(columns, x.shape[2:], weight.shape[2:], padding=ctx.padding)
        if ctx.needs_input_grad[1]:
            grad_weight = torch.nn.grad.conv2d_weight(x, weight.shape, grad_out, padding=ctx.padding)
        if ctx.has_bias and ctx.needs_input_grad[2]:
            grad_bias = grad_out.sum((0, 2, 3))
        return grad_x, grad_weight, grad_bias, None


class InputConv2d(nn.Conv2d):
    """nn.Conv2d for a network's first layer (stride 1), whose input gradient every attack and every adversarial,
    robust or gradient-regularized training step needs. On the CPU it is computed as a matrix product and a fold:
    oneDNN's takes 2-6x as long for one or three input channels (Shaham's MNIST net: 22 ms against 4.4 ms per batch
    of 100, timed alone on a 2-core CPU). The same numbers up to float rounding; elsewhere conv2d's own."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.stride != (1, 1) or self.dilation != (1, 1) or self.groups != 1 or self.padding_mode != "zeros":
            raise ValueError("InputConv2d supports stride 1, dilation 1, groups 1 and zero padding only")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.device.type != "cpu" or not torch.is_grad_enabled():
            return super().forward(x)
        return _FoldInputGradient.apply(x, self.weight, self.bias, self.padding)


def _with(layer: nn.Module, max_norm: float | None = None, lr_scale: float | None = None) -> nn.Module:
    """Attach the `max_norm` / `lr_scale` attributes that training reads."""
    if max_norm is not None:
        layer.max_norm = float(max_norm)
    if lr_scale is not None:
        layer.lr_scale = float(lr_scale)
    return layer


def _layer_dropout(first: bool, input_include: float, hidden_include: float) -> PylearnDropout:
    """pylearn2 Dropout cost: the network input is kept unscaled, other layers' inputs are scaled 1/p."""
    return PylearnDropout(input_include, 1.0) if first else PylearnDropout(hidden_include, 1.0 / hidden_include)


# --- constraints, learning-rate scales, initialisation ----------------------------------------------


@torch.no_grad()
def project_max_norm_(model: nn.Module) -> None:
    """Clip each incoming-weight vector of layers with a `max_norm` attribute to that L2 norm, in place.

    Rows of an nn.Linear weight (pylearn2 `max_col_norm`, columns in its (in, out) layout) and
    whole output kernels (in_channels, kh, kw) of an nn.Conv2d (`max_kernel_norm`), as
    pylearn2's `_modify_updates`, applied after each update. Vectors within the bound are untouched.
    """
    for module in model.modules():
        bound = getattr(module, "max_norm", None)
        if bound is None:
            continue
        weight = module.weight
        norms = weight.flatten(1).norm(dim=1)
        factor = torch.where(norms > bound, bound / norms, torch.ones_like(norms))
        weight.mul_(factor.view(-1, *[1] * (weight.dim() - 1)))


def parameter_groups(model: nn.Module) -> list[dict]:
    """Optimizer param groups, one per distinct `lr_scale` attribute of the owning layer (default 1.0).

    pylearn2 `W_lr_scale` / `b_lr_scale`; the training code multiplies each group's lr by "lr_scale".
    """
    groups: dict[float, list[nn.Parameter]] = {}
    seen: set[int] = set()
    for module in model.modules():
        scale = float(getattr(module, "lr_scale", 1.0))
        for param in module.parameters(recurse=False):
            if id(param) not in seen:
                seen.add(id(param))
                groups.setdefault(scale, []).append(param)
    return [{"params": params, "lr_scale": scale} for scale, params in groups.items()]


@torch.no_grad()
def init_irange_(model: nn.Module, irange: float = PYLEARN2_IRANGE) -> nn.Module:
    """pylearn2 `irange` init: every weight U(-irange, irange), every bias 0 (Goodfellow et al. 2013 configs)."""
    for name, param in model.named_parameters():
        if name.endswith("bias"):
            param.zero_()
        else:
            param.uniform_(-irange, irange)
    return model


@contextlib.contextmanager
def eval_mode(model: nn.Module) -> Iterator[nn.Module]:
    """Put the model in eval mode for the block, then restore the mode it had."""
    was_training = model.training
    model.eval()
    try:
        yield model
    finally:
        model.train(was_training)


@contextlib.contextmanager
def frozen_parameters(model: nn.Module) -> Iterator[nn.Module]:
    """No parameter requires a gradient inside the block (an attack or a perturbation needs input gradients only: no
    weight gradient is computed, and nothing touches .grad); each parameter's requires_grad is restored afterwards."""
    flags = [p.requires_grad for p in model.parameters()]
    try:
        for p in model.parameters():
            p.requires_grad_(False)
        yield model
    finally:
        for p, flag in zip(model.parameters(), flags):
            p.requires_grad_(flag)


def weight_parameters(model: nn.Module) -> list[nn.Parameter]:
    """Weights (not biases) of every layer: what L2 weight decay penalizes."""
    return [p for name, p in model.named_parameters() if not name.endswith("bias")]


class HardThreshold(nn.Module):
    """1 where x > level, else 0, with a gradient of zero everywhere: a mask for gradient attacks."""

    def __init__(self, level: float):
        super().__init__()
        self.level = float(level)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x > self.level).to(x.dtype) + 0.0 * x  # 0 * x: a graph whose input gradient is exactly zero

    def extra_repr(self) -> str:
        return f"level={self.level}"


@ARCHITECTURES.register()
def thresholded_softmax(input_shape: tuple, n_classes: int = 10, level: float = 0.5) -> nn.Module:
    """A control for the gradient-masking checks (Carlini et al. 2019): softmax regression on the
    binarized image (x > level). Its input gradient is zero, so gradient attacks find nothing, although a
    black-box attack crossing the threshold fools it easily."""
    return nn.Sequential(HardThreshold(level), nn.Flatten(), nn.Linear(_n_inputs(input_shape), n_classes))


# --- fully connected networks ---------------------------------------------------------------------


def _mlp(input_shape: tuple, n_classes: int, hidden: tuple, make_hidden: Callable[[int, int], list[nn.Module]],
         max_norm: float, dropout: tuple[float, float] | None) -> nn.Sequential:
    """Flatten -> per width: make_hidden(n_in, width) (a Linear, then its nonlinearity) -> Linear(n_classes).

    `max_norm` goes on every Linear; `dropout` = (input_include, hidden_include) puts a
    PylearnDropout before every Linear.
    """
    layers: list[nn.Module] = [nn.Flatten()]
    n_in = _n_inputs(input_shape)
    for index, width in enumerate(hidden):
        if dropout is not None:
            layers.append(_layer_dropout(index == 0, *dropout))
        linear, *rest = make_hidden(n_in, width)
        layers += [_with(linear, max_norm=max_norm), *rest]
        n_in = width
    if dropout is not None:
        layers.append(_layer_dropout(not hidden, *dropout))
    layers.append(_with(nn.Linear(n_in, n_classes), max_norm=max_norm))
    return nn.Sequential(*layers)


@ARCHITECTURES.register()
def sigmoid_mlp(input_shape: tuple, n_classes: int = 10, hidden: tuple = (600, 600),
                max_norm: float = 15 ** 0.5) -> nn.Module:
    """Sigmoid MLP 2x600 with max norm sqrt(15) on every Linear, no dropout (Lyu et al. 2015 section V)."""
    return _mlp(input_shape, n_classes, tuple(hidden), lambda n, w: [nn.Linear(n, w), nn.Sigmoid()], max_norm, None)


@ARCHITECTURES.register()
def relu_mlp(input_shape: tuple, n_classes: int = 10, hidden: tuple = (1024, 1024, 1024), max_norm: float = 3.5,
             input_include: float = 0.8, hidden_include: float = 0.5) -> nn.Module:
    """ReLU MLP with pylearn2-style dropout before every Linear and max norm on each (Lyu et al. 2015)."""
    return _mlp(input_shape, n_classes, tuple(hidden), lambda n, w: [nn.Linear(n, w), nn.ReLU()], max_norm,
                (input_include, hidden_include))


@ARCHITECTURES.register()
def maxout_mlp(input_shape: tuple, n_classes: int = 10, units: int = 240, pieces: int = 5, layers: int = 2,
               max_col_norm: float = 1.9365, input_include: float = 0.8, hidden_include: float = 0.5) -> nn.Module:
    """Permutation-invariant maxout MLP, Goodfellow et al. 2013, pylearn2 mnist_pi.yaml (irange init)."""
    model = _mlp(input_shape, n_classes, (units,) * layers,
                 lambda n, w: [nn.Linear(n, w * pieces), Maxout(pieces)], max_col_norm,
                 (input_include, hidden_include))
    return init_irange_(model)


# --- convolutional maxout networks ----------------------------------------------------------------


class ConvMaxoutSpec(NamedTuple):
    """One pylearn2 `MaxoutConvC01B` layer: conv -> maxout over channel groups -> ceil-mode max pool."""

    units: int
    pieces: int
    kernel: int
    pad: int
    pool: int
    pool_stride: int
    max_kernel_norm: float


class MaxoutSpec(NamedTuple):
    """One pylearn2 fully connected `Maxout` layer."""

    units: int
    pieces: int
    max_col_norm: float


MNIST_CONV_LAYERS = (  # pylearn2 mnist.yaml
    ConvMaxoutSpec(48, 2, kernel=8, pad=0, pool=4, pool_stride=2, max_kernel_norm=0.9),
    ConvMaxoutSpec(48, 2, kernel=8, pad=3, pool=4, pool_stride=2, max_kernel_norm=1.9365),
    ConvMaxoutSpec(24, 4, kernel=5, pad=3, pool=2, pool_stride=2, max_kernel_norm=1.9365),
)
CIFAR_SMALL_CONV_LAYERS = (  # pylearn2 cifar10_old_small.yaml
    ConvMaxoutSpec(48, 2, kernel=8, pad=4, pool=4, pool_stride=2, max_kernel_norm=0.9),
    ConvMaxoutSpec(128, 2, kernel=8, pad=3, pool=4, pool_stride=2, max_kernel_norm=1.9365),
    ConvMaxoutSpec(128, 2, kernel=5, pad=3, pool=2, pool_stride=2, max_kernel_norm=1.9365),
)
CIFAR_SMALL_FC_LAYERS = (MaxoutSpec(240, 5, max_col_norm=1.9),)
CIFAR_FULL_CONV_LAYERS = (  # pylearn2 cifar10_no_aug.yaml: the same shapes and norms, more channels
    ConvMaxoutSpec(96, 2, kernel=8, pad=4, pool=4, pool_stride=2, max_kernel_norm=0.9),
    ConvMaxoutSpec(192, 2, kernel=8, pad=3, pool=4, pool_stride=2, max_kernel_norm=1.9365),
    ConvMaxoutSpec(192, 2, kernel=5, pad=3, pool=2, pool_stride=2, max_kernel_norm=1.9365),
)
CIFAR_FULL_FC_LAYERS = (MaxoutSpec(500, 5, max_col_norm=1.9),)


def _ceil_pool_size(size: int, pool: int, stride: int) -> int:
    """Output size of cuda-convnet max pooling (ceil mode), as MaxPool2d(ceil_mode=True) without padding."""
    if size < pool:
        raise ValueError(f"pool {pool} exceeds the {size}-pixel detector map")
    return -(-(size - pool) // stride) + 1


def _conv_maxout(input_shape: tuple, n_classes: int, conv_layers: tuple, fc_layers: tuple = (),
                 softmax_max_col_norm: float = 1.9365, input_include: float = 0.8, hidden_include: float = 0.5,
                 conv_lr_scale: float | None = None, tied_bias: bool = True,
                 irange: float = PYLEARN2_IRANGE) -> nn.Sequential:
    """Conv maxout stack -> fully connected maxout layers -> softmax layer (logits), pylearn2 semantics.

    Dropout before every layer, max norms from the specs, `conv_lr_scale` on the conv layers'
    weights and biases, untied (per-position) conv biases unless `tied_bias`; U(+-irange) init.
    """
    channels, height, width = input_shape
    layers: list[nn.Module] = []
    for index, spec in enumerate(conv_layers):
        conv = (InputConv2d if index == 0 else nn.Conv2d)(channels, spec.units * spec.pieces, spec.kernel,
                                                           padding=spec.pad, bias=tied_bias)
        layers += [_layer_dropout(index == 0, input_include, hidden_include),
                   _with(conv, max_norm=spec.max_kernel_norm, lr_scale=conv_lr_scale)]
        height, width = height + 2 * spec.pad - spec.kernel + 1, width + 2 * spec.pad - spec.kernel + 1
        if not tied_bias:
            layers.append(_with(UntiedBias((spec.units * spec.pieces, height, width)), lr_scale=conv_lr_scale))
        layers += [Maxout(spec.pieces), nn.MaxPool2d(spec.pool, spec.pool_stride, ceil_mode=True)]
        channels = spec.units
        height, width = (_ceil_pool_size(height, spec.pool, spec.pool_stride),
                         _ceil_pool_size(width, spec.pool, spec.pool_stride))
    layers.append(nn.Flatten())
    n_in = channels * height * width
    for spec in fc_layers:
        layers += [_layer_dropout(False, input_include, hidden_include),
                   _with(nn.Linear(n_in, spec.units * spec.pieces), max_norm=spec.max_col_norm),
                   Maxout(spec.pieces)]
        n_in = spec.units
    layers += [_layer_dropout(False, input_include, hidden_include),
               _with(nn.Linear(n_in, n_classes), max_norm=softmax_max_col_norm)]
    return init_irange_(nn.Sequential(*layers), irange)


@ARCHITECTURES.register()
def conv_maxout_mnist(input_shape: tuple, n_classes: int = 10, input_include: float = 0.8,
                      hidden_include: float = 0.5, tied_bias: bool = False, irange: float = PYLEARN2_IRANGE) -> nn.Module:
    """Conv maxout for MNIST, Goodfellow et al. 2013, pylearn2 mnist.yaml (spatial 21->10, 9->4, 6->3).

    mnist.yaml leaves `tied_b` at its default False, so each conv layer has per-position biases. `irange`
    other than pylearn2's .005 is only for reduced scales (a few epochs do not leave the initial plateau).
    """
    return _conv_maxout(input_shape, n_classes, MNIST_CONV_LAYERS, input_include=input_include,
                        hidden_include=hidden_include, tied_bias=tied_bias, irange=irange)


@ARCHITECTURES.register()
def conv_maxout_cifar_small(input_shape: tuple, n_classes: int = 10, input_include: float = 0.8,
                            hidden_include: float = 0.5, conv_lr_scale: float = 0.05,
                            irange: float = PYLEARN2_IRANGE) -> nn.Module:
    """Small CIFAR-10 conv maxout, Goodfellow et al. 2013, pylearn2 cifar10_old_small.yaml (33->16, 15->7, 9->5)."""
    return _conv_maxout(input_shape, n_classes, CIFAR_SMALL_CONV_LAYERS, CIFAR_SMALL_FC_LAYERS,
                        input_include=input_include, hidden_include=hidden_include, conv_lr_scale=conv_lr_scale,
                        irange=irange)


@ARCHITECTURES.register()
def conv_maxout_cifar_full(input_shape: tuple, n_classes: int = 10, input_include: float = 0.8,
                           hidden_include: float = 0.5, conv_lr_scale: float = 0.05,
                           irange: float = PYLEARN2_IRANGE) -> nn.Module:
    """The Maxout paper's full CIFAR-10 conv maxout, pylearn2 cifar10_no_aug.yaml: 96/192/192 channels, a 500 x 5
    maxout layer, tied biases, conv lr scale .05 (Goodfellow et al. 2013; 11.68% test error)."""
    return _conv_maxout(input_shape, n_classes, CIFAR_FULL_CONV_LAYERS, CIFAR_FULL_FC_LAYERS,
                        input_include=input_include, hidden_include=hidden_include, conv_lr_scale=conv_lr_scale,
                        irange=irange)


# --- Shaham, Yamada & Negahban 2015 (RobustTraining, cifar.torch) ------------------------------------


@ARCHITECTURES.register()
def shaham_mnist_convnet(input_shape: tuple, n_classes: int = 10, input_normalization: bool = False) -> nn.Module:
    """The MNIST convnet of Shaham et al. 2015, section 5.1 (RobustTraining train-baseline.lua):
    conv 32 k5 -> ReLU -> max pool 3/3 -> conv 64 k5 -> ReLU -> max pool 2/2 -> FC 200 -> ReLU -> 10.

    `input_normalization` puts BatchNorm2d(1, affine=False) on the input, as the robust scripts do
    (the baseline has none). Torch7's default init is PyTorch's (U(+-1/sqrt(fan_in))).
    """
    channels, height, width = input_shape
    side = lambda n: ((n - 4) // 3 - 4) // 2  # noqa: E731  (spatial size after both conv + pool blocks)
    layers = [nn.BatchNorm2d(channels, affine=False)] if input_normalization else []
    layers += [InputConv2d(channels, 32, 5), nn.ReLU(), nn.MaxPool2d(3, 3), nn.Conv2d(32, 64, 5), nn.ReLU(),
               nn.MaxPool2d(2, 2), nn.Flatten(), nn.Linear(64 * side(height) * side(width), 200), nn.ReLU(),
               nn.Linear(200, n_classes)]
    return nn.Sequential(*layers)


VGG_BN_DROP = ((64, 0.3), (64, None), "M", (128, 0.4), (128, None), "M", (256, 0.4), (256, 0.4), (256, None), "M",
               (512, 0.4), (512, 0.4), (512, None), "M", (512, 0.4), (512, 0.4), (512, None), "M")
"""cifar.torch models/vgg_bn_drop.lua: (channels, dropout after the block) per ConvBNReLU, "M" a 2x2 max pool."""


@ARCHITECTURES.register()
def vgg_bn_drop(input_shape: tuple, n_classes: int = 10, width: float = 1.0, dropout: bool = True) -> nn.Module:
    """cifar.torch's VGG with batch normalization and dropout (Shaham et al. 2015, section 5.2).

    ConvBNReLU = conv 3x3 pad 1 -> BatchNorm (eps 1e-3) -> ReLU, dropout .3/.4 as in VGG_BN_DROP, then
    dropout .5 -> FC 512 -> BN -> ReLU -> dropout .5 -> FC n_classes. Convs get MSR init
    (N(0, 2 / (k*k*out)), bias 0). `width` scales every channel count (1 = the paper's) and
    `dropout=False` leaves out every dropout layer: both only for reduced scales on CPU, where a few
    hundred steps do not get the dropout net off chance level.
    """
    channels, height, _ = input_shape
    layers: list[nn.Module] = []
    for block in VGG_BN_DROP:
        if block == "M":
            layers.append(nn.MaxPool2d(2, 2, ceil_mode=True))
            height = -(-height // 2)
            continue
        out, rate = max(1, round(block[0] * width)), block[1]
        conv = nn.Conv2d(channels, out, 3, padding=1)
        nn.init.normal_(conv.weight, 0.0, (2.0 / (9 * out)) ** 0.5)
        nn.init.zeros_(conv.bias)
        layers += [conv, nn.BatchNorm2d(out, eps=1e-3), nn.ReLU()] + ([nn.Dropout(rate)] if rate and dropout else [])
        channels = out
    hidden = max(1, round(512 * width))
    drop = [nn.Dropout(0.5)] if dropout else []
    layers += [nn.Flatten(), *drop, nn.Linear(channels * height * height, hidden), nn.BatchNorm1d(hidden), nn.ReLU(),
               *drop, nn.Linear(hidden, n_classes)]
    return nn.Sequential(*layers)


@ARCHITECTURES.register()
def lenet_mnist(input_shape: tuple, n_classes: int = 10, init_std: float = 0.01) -> nn.Module:
    """MatConvNet's cnn_mnist "baseline" (no batch normalization; setups.md 5.2, Tanay & Griffin 2016):
    conv 5x5x20 -> max pool 2/2 -> conv 5x5x50 -> max pool 2/2 -> conv 4x4x500 -> ReLU (the only
    nonlinearity) -> conv 1x1x10; weights N(0, init_std^2), biases 0."""
    channels = input_shape[0]
    model = nn.Sequential(
        InputConv2d(channels, 20, 5), nn.MaxPool2d(2, 2), nn.Conv2d(20, 50, 5), nn.MaxPool2d(2, 2),
        nn.Conv2d(50, 500, 4), nn.ReLU(), nn.Conv2d(500, n_classes, 1), nn.Flatten())
    for layer in model:
        if isinstance(layer, nn.Conv2d):
            nn.init.normal_(layer.weight, std=init_std)
            nn.init.zeros_(layer.bias)
    return model


def input_shape(dataset: str) -> tuple:
    """(C, H, W) of a dataset's images: the raw dataset's, through its preprocessing's shape map if any
    (a dataset name is `<raw>` or `<raw>_<preprocessing kind>`)."""
    raw, _, kind = dataset.partition("_")
    shape = DATASETS.lookup(raw).shape
    return getattr(PREPROCESSING.lookup(kind), "shape", lambda s: s)(shape) if kind else shape


def build(architecture: str, dataset: str, **options) -> nn.Module:
    """Build `architecture` for `dataset`; unknown names fail with the allowed ones."""
    return ARCHITECTURES.lookup(architecture)(input_shape(dataset), **options)


def load_trained(spec: dict, weights, device) -> nn.Module:
    """A registry model (its architecture, dataset and options) with its trained weights, in eval mode."""
    model = build(spec["architecture"], spec["dataset"], **spec["options"]).to(device)
    model.load_state_dict(load_tensors(weights, device))
    return model.eval()
