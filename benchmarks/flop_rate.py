"""Benchmark: the FLOP rate a training step achieves, against the machine's own rate for the same products.

For each registry model given (--models, their entries as JSON): one training step of the model's own
objective, optimizer and max-norm projection on a batch of its registry size (random inputs of its
dataset's shape). Its FLOPs are counted by torch.utils.flop_counter and divided by its median wall time;
the same is done for its matrix products and convolutions alone — every Linear and Conv2d call the step
makes, forward and backward, at the same shapes, on fresh tensors. The two are interleaved over `repeats`
rounds. The ratio of the step's FLOP rate to the products' is how close training runs to the machine's
limit for that work (target: at least 0.5).

    python benchmarks/flop_rate.py --models '{"maxout": <registry entry>}' --out flop_rate.json
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from advrepro import benchmarking, io, models, runtime
from advrepro.objectives import make_objective
from advrepro.probe import flops
from advrepro.training import make_optimizer, sgd_step

TARGET = 0.5


def product_calls(model: nn.Module, step) -> list:
    """Every Linear and Conv2d call one step makes: (the layer, the shape of its input)."""
    calls, hooks = [], [layer.register_forward_pre_hook(lambda layer, inputs: calls.append((layer, inputs[0].shape)))
                        for layer in model.modules() if isinstance(layer, (nn.Linear, nn.Conv2d))]
    step()
    for hook in hooks:
        hook.remove()
    return calls


def products_alone(calls: list, device) -> callable:
    """A function running those calls alone, forward and backward (input and weight gradients), on fresh tensors
    of the same shapes."""
    tensors = [(layer, torch.randn(shape, device=device, requires_grad=True),
                layer.weight.detach().clone().requires_grad_(True)) for layer, shape in calls]

    def run():
        for layer, x, weight in tensors:
            out = (nn.functional.linear(x, weight) if isinstance(layer, nn.Linear) else
                   nn.functional.conv2d(x, weight, stride=layer.stride, padding=layer.padding))
            out.backward(torch.ones_like(out))
    return run


def measure(name: str, spec: dict, repeats: int, device) -> dict:
    """The FLOP rates of one model's training step and of its products alone, and their ratio."""
    torch.manual_seed(0)
    model = models.build(spec["architecture"], spec["dataset"], **spec["options"]).to(device).train()
    batch = spec["training"]["batch_size"]
    x = torch.rand(batch, *models.input_shape(spec["dataset"]), device=device)
    y = torch.randint(0, 10, (batch,), device=device)
    objective, optimizer = make_objective(spec["training"]["objective"]), make_optimizer(model, spec["training"])
    step = lambda: sgd_step(model, objective, optimizer, x, y)  # noqa: E731
    alone = products_alone(product_calls(model, step), device)
    step_flops, alone_flops = flops(step), flops(alone)
    median = benchmarking.interleaved_medians({"step": step, "alone": alone}, repeats, warmup=2)
    ratio = (step_flops / median["step"]) / (alone_flops / median["alone"])
    print(f"{name}: step {step_flops / median['step'] / 1e9:.2f} GFLOP/s, products alone "
          f"{alone_flops / median['alone'] / 1e9:.2f} GFLOP/s: {ratio:.2f}")
    return {"measure": f"{name} ({spec['architecture']}): FLOP rate of a training step / of its products alone, "
                       f"batch {batch} ({step_flops / median['step'] / 1e9:.2f} vs "
                       f"{alone_flops / median['alone'] / 1e9:.2f} GFLOP/s)",
            "baseline": "its matrix products and convolutions alone", "baseline_seconds": median["alone"],
            "seconds": median["step"], "ratio": ratio, "target": f">= {TARGET}", "meets_target": ratio >= TARGET,
            "step_gflop": step_flops / 1e9, "products_gflop": alone_flops / 1e9}


def main() -> None:
    parser = benchmarking.parser(__doc__)
    parser.add_argument("--repeats", type=int, default=20, help="interleaved rounds")
    args = parser.parse_args()

    device = runtime.select_device(args.device)
    rows = [measure(name, spec, args.repeats, device) for name, spec in args.models.items()]
    io.write_json(args.out, {"name": Path(args.out).stem, "title": args.title, "device": str(device),
                             "threads": torch.get_num_threads(), "repeats": args.repeats, "rows": rows})


if __name__ == "__main__":
    main()
