"""Benchmark: PGD images per second of advrepro.attacks.pgd against torchattacks.PGD.

The same trained registry model (Goodfellow et al. 2014's maxout MLP), the same batch of MNIST test images,
the same settings (l∞, eps, step, steps, a uniform random start, clipped to [0, 1]) and the same seed. Two rows,
each the ratio ours / torchattacks of the median seconds per batch over `repeats` interleaved rounds (target:
<= 1, at least as fast): our PGD as the evaluations run it (an example stops at its first misclassified iterate),
and our PGD stepping every example every step as torchattacks does, whose error must then equal torchattacks'
(same random start). torchattacks: `pip install --no-deps torchattacks` (done by `make setup`).

    python benchmarks/pgd.py --models '{"goodfellow2014/maxout": <registry entry>}' \
        --weights results/models/goodfellow2014/maxout/model.pt --dataset resources/datasets/mnist.pt \
        --out results/benchmarks/today/pgd.json
"""

from __future__ import annotations

import math
from pathlib import Path

import torch

from advrepro import benchmarking, data, io, models, runtime
from advrepro.attacks import pgd
from advrepro.inference import error_rate
from advrepro.strong_attacks import torchattacks_module


def attacks(model, x, y, args) -> dict:
    """The three attacks, each drawing its random start from the same seed."""
    theirs = torchattacks_module().PGD(model, eps=args.eps, alpha=args.step, steps=args.steps, random_start=True)

    def ours(early_stop: bool):
        return lambda: pgd(model, x, y, eps=args.eps, step=args.step, steps=args.steps, clip=(0.0, 1.0),
                           generator=torch.Generator(device=x.device).manual_seed(args.seed), early_stop=early_stop)

    def torchattacks_pgd():
        torch.manual_seed(args.seed)  # torchattacks draws its start from the global generator
        return theirs(x, y)

    return {"ours": ours(True), "ours, every step": ours(False), "torchattacks": torchattacks_pgd}


def main() -> None:
    parser = benchmarking.parser(__doc__, trained=True)
    for name, kind, default in (("--batch-size", int, 1000), ("--eps", float, 0.3), ("--step", float, 0.01),
                                ("--steps", int, 40), ("--repeats", int, 10), ("--seed", int, 0)):
        parser.add_argument(name, type=kind, default=default)
    args = parser.parse_args()
    device = runtime.select_device(args.device)
    ((name, spec),) = args.models.items()
    model = models.load_trained(spec, args.weights[0], device)
    x, y, _ = data.load_split(args.dataset, "test", limit=args.batch_size, device=device)
    fns = attacks(model, x, y, args)
    errors = {label: 100 * error_rate(model, fn(), y) for label, fn in fns.items()}
    if not math.isclose(errors["ours, every step"], errors["torchattacks"], abs_tol=0.5):
        raise AssertionError(f"PGD errors disagree with the same start: {errors}")
    median = benchmarking.interleaved_medians(fns, args.repeats)
    rows = [{"measure": f"PGD ({what}), {name}, batch {len(y)}, {args.steps} steps: seconds per batch "
                        f"({len(y) / median[label]:.0f} vs {len(y) / median['torchattacks']:.0f} images/s; error "
                        f"{errors[label]:.1f}% vs {errors['torchattacks']:.1f}%)",
             "baseline": f"torchattacks {torchattacks_module().__version__} PGD",
             "baseline_seconds": median["torchattacks"], "seconds": median[label],
             "ratio": median[label] / median["torchattacks"], "target": "<= 1.0x",
             "meets_target": median[label] <= median["torchattacks"]}
            for label, what in (("ours", "as evaluated: a fooled example stops"), ("ours, every step", "every step"))]
    io.write_json(args.out, {"name": Path(args.out).stem, "title": args.title, "device": str(device),
                             "batch_size": len(y), "eps": args.eps, "step": args.step, "steps": args.steps,
                             "repeats": args.repeats, "errors": errors, "rows": rows})
    for row in rows:
        print(f"{row['measure']}: ratio {row['ratio']:.3f}")


if __name__ == "__main__":
    main()
