"""Benchmark: batched bisection line search vs a 1000-point forward scan (Lyu section V-A).

Both search the same direction (grad_x L, unit L2) on the same trained registry model and test points
for the smallest step that flips a correct prediction. The scan steps through 1000 evenly spaced
norms in (0, max_norm], one batched forward pass each, as attack libraries usually do; its
precision is max_norm / 1000, and the bisection is run to the same tolerance. The two are interleaved
over `repeats` rounds (median of each). Writes the times, their ratio and the largest disagreement
between the two answers to a JSON file.

    python benchmarks/line_search.py --models '{"softmax_wd1e-4": <registry entry>}' \
        --weights results/models/lyu2015/softmax_wd1e-4/model.pt --dataset resources/datasets/mnist.pt \
        --out results/benchmarks/lyu2015/line_search.json
"""

from __future__ import annotations

import math
from pathlib import Path

import torch

from advrepro import benchmarking, data, io, models, runtime
from advrepro.attacks import input_gradient
from advrepro.evaluate import min_perturbation_along_gradient
from advrepro.perturbations import steepest_ascent


@torch.no_grad()
def forward_scan(model, x, y, max_norm: float, steps: int = 1000) -> torch.Tensor:
    """First of `steps` evenly spaced norms at which the prediction flips (inf if none)."""
    with models.eval_mode(model):
        direction = steepest_ascent(input_gradient(model, x, y), p=2, sigma=1.0)
        correct = model(x).argmax(1) == y
        found = torch.full((len(y),), math.inf, device=x.device)
        for k in range(1, steps + 1):
            t = max_norm * k / steps
            flipped = (model(x + t * direction).argmax(1) != y) & torch.isinf(found)
            found[flipped] = t
    return torch.where(correct, found, torch.full_like(found, math.nan))


def main() -> None:
    parser = benchmarking.parser(__doc__, trained=True)
    parser.add_argument("--examples", type=int, default=10000)
    parser.add_argument("--max-norm", type=float, default=10.0)
    parser.add_argument("--steps", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    device = runtime.select_device(args.device)
    x, y, _ = data.load_split(args.dataset, "test", limit=args.examples, device=device)
    (spec,) = args.models.values()
    model = models.load_trained(spec, args.weights[0], device)
    tol = args.max_norm / args.steps
    runs = {"scan": lambda: forward_scan(model, x, y, args.max_norm, args.steps),
            "bisection": lambda: min_perturbation_along_gradient(model, x, y, args.max_norm, tol)}
    scan, bisect = runs["scan"](), runs["bisection"]()  # the answers (and a warm-up)
    median = benchmarking.interleaved_medians(runs, args.repeats, warmup=0)
    scan_time, bisect_time = median["scan"], median["bisection"]
    both = torch.isfinite(scan) & torch.isfinite(bisect)
    result = {
        "name": Path(args.out).stem, "title": args.title,
        "device": str(device), "examples": len(y), "max_norm": args.max_norm, "steps": args.steps, "tol": tol,
        "scan_seconds": scan_time, "bisection_seconds": bisect_time, "speedup": scan_time / bisect_time,
        "target_speedup": 10.0,
        "rows": [{"measure": f"line search on {len(y)} test points", "baseline": "1000-point forward scan",
                  "baseline_seconds": scan_time, "seconds": bisect_time, "ratio": scan_time / bisect_time,
                  "target": "speed-up >= 10x", "meets_target": scan_time / bisect_time >= 10.0}],
        "max_abs_difference": (scan[both] - bisect[both]).abs().max().item() if both.any() else None,
        "same_no_flip_set": bool(torch.equal(torch.isinf(scan), torch.isinf(bisect))),
    }
    io.write_json(args.out, result)
    print(f"scan {scan_time:.3f}s, bisection {bisect_time:.3f}s, speedup {result['speedup']:.1f}x "
          f"(target >= 10x); max |difference| {result['max_abs_difference']}")


if __name__ == "__main__":
    main()
