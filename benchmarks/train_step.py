"""Benchmark: a training step with a registry model's own objective against a plain step of the same model.

For each registry model given (--models, their entries as JSON): one SGD step (objective, backward, the
model's optimizer, max-norm projection) on the same model and batch (its registry batch size, random
inputs of its dataset's shape), in the same run, for the plain loss and the model's own objective (Lyu et
al. 2015's gradient regularization, eq. 1-3; Shaham et al. 2015's Algorithm 1), and with
--double-backprop also the exact penalty L + sigma ||grad_x L||_q of eq. (4). The steps are interleaved
over `repeats` rounds and the median of each is kept; the ratios to the plain step are the result (both
papers: "roughly double"; target for the model's own objective <= 2.1x).

    python benchmarks/train_step.py --models '{"maxout_grad_p2": <registry entry>}' --out train_step.json
"""

from __future__ import annotations

from pathlib import Path

import torch

from advrepro import benchmarking, io, models, runtime
from advrepro.objectives import make_objective
from advrepro.training import make_optimizer, sgd_step

TARGET = 2.1


def objectives_of(spec: dict, double_backprop: bool) -> dict[str, dict]:
    """The objectives to time: plain, the model's own, and its double-backprop form (gradient regularization)."""
    own = spec["training"]["objective"]
    forms = {"plain": {"name": "plain"}, own.get("form", own["name"]): own}
    if double_backprop:
        forms["double_backprop"] = {**own, "form": "double_backprop"}
    return forms


def time_model(name: str, spec: dict, repeats: int, double_backprop: bool, device) -> list[dict]:
    """Median seconds per step of each objective on one model, and their ratios to the plain step."""
    torch.manual_seed(0)
    model = models.build(spec["architecture"], spec["dataset"], **spec["options"]).to(device).train()
    batch = spec["training"]["batch_size"]
    x = torch.rand(batch, *models.input_shape(spec["dataset"]), device=device)
    y = torch.randint(0, 10, (batch,), device=device)
    steps = {}
    for form, objective_spec in objectives_of(spec, double_backprop).items():
        objective, optimizer = make_objective(objective_spec), make_optimizer(model, spec["training"])
        steps[form] = lambda objective=objective, optimizer=optimizer: sgd_step(model, objective, optimizer, x, y)
    median = benchmarking.interleaved_medians(steps, repeats, warmup=2)
    rows = []
    for form in list(steps)[1:]:
        ratio = median[form] / median["plain"]
        own = form != "double_backprop"
        rows.append({"measure": f"{name} ({spec['architecture']}): {form} step / plain step, batch {batch}",
                     "baseline": "plain step", "baseline_seconds": median["plain"], "seconds": median[form],
                     "ratio": ratio, "target": f"<= {TARGET}x" if own else "none",
                     "meets_target": ratio <= TARGET if own else None})
        print(f"{name} {form}: {median[form] * 1e3:.2f} ms vs plain {median['plain'] * 1e3:.2f} ms = {ratio:.2f}x")
    return rows


def main() -> None:
    parser = benchmarking.parser(__doc__)
    parser.add_argument("--repeats", type=int, default=60, help="interleaved steps of each objective")
    parser.add_argument("--double-backprop", default="false", choices=["true", "false", "True", "False"])
    args = parser.parse_args()

    device = runtime.select_device(args.device)
    rows = [row for name, spec in args.models.items()
            for row in time_model(name, spec, args.repeats, args.double_backprop.lower() == "true", device)]
    io.write_json(args.out, {"name": Path(args.out).stem, "title": args.title, "device": str(device),
                             "steps_per_form": args.repeats, "rows": rows})


if __name__ == "__main__":
    main()
