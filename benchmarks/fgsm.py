"""Benchmark: FGSM images per second of advrepro.attacks.one_step against torchattacks.FGSM.

The same trained registry model (Goodfellow et al. 2014's maxout MLP), the same batch of MNIST test
images and eps; torchattacks clamps to [0, 1], so ours runs with clip=(0, 1) and the two outputs must
agree. The two are interleaved over `repeats` rounds and the median time per batch of each is kept; the
ratio is ours / torchattacks (target: <= 1, at least as fast). torchattacks is a test/benchmark extra
(`pip install --no-deps torchattacks`, done by `make setup`); without it the row says so.

    python benchmarks/fgsm.py --models '{"maxout": <registry entry>}' \
        --weights results/models/goodfellow2014/maxout/model.pt --dataset resources/datasets/mnist.pt \
        --out results/benchmarks/goodfellow2014/fgsm.json
"""

from __future__ import annotations

import math
from pathlib import Path

from advrepro import benchmarking, data, io, models, runtime
from advrepro.attacks import one_step


def main() -> None:
    parser = benchmarking.parser(__doc__, trained=True)
    parser.add_argument("--batch-size", type=int, default=1000)
    parser.add_argument("--eps", type=float, default=0.25)
    parser.add_argument("--repeats", type=int, default=20)
    args = parser.parse_args()

    device = runtime.select_device(args.device)
    ((name, spec),) = args.models.items()
    model = models.load_trained(spec, args.weights[0], device)
    x, y, _ = data.load_split(args.dataset, "test", limit=args.batch_size, device=device)
    ours = lambda: one_step(model, x, y, eps=args.eps, clip=(0.0, 1.0))  # noqa: E731
    result = {"name": Path(args.out).stem, "title": args.title, "device": str(device), "batch_size": len(y),
              "eps": args.eps, "repeats": args.repeats}
    try:
        import torchattacks
    except ImportError:
        ours_time = benchmarking.interleaved_medians({"ours": ours}, args.repeats)["ours"]
        result["rows"] = [{"measure": f"FGSM, {name}, batch {len(y)}: seconds per batch",
                           "baseline": "torchattacks (not installed: pip install --no-deps torchattacks)",
                           "baseline_seconds": math.nan, "seconds": ours_time, "ratio": math.nan,
                           "target": "<= 1.0x", "meets_target": None}]
        io.write_json(args.out, result)
        print("torchattacks is not installed; timed ours only")
        return
    theirs = torchattacks.FGSM(model, eps=args.eps)
    max_gap = (ours() - theirs(x, y)).abs().max().item()
    if max_gap > 1e-5:
        raise AssertionError(f"one_step and torchattacks.FGSM disagree by {max_gap}")
    median = benchmarking.interleaved_medians({"ours": ours, "torchattacks": lambda: theirs(x, y)}, args.repeats, warmup=2)
    ratio = median["ours"] / median["torchattacks"]
    result["rows"] = [{"measure": f"FGSM, {name}, batch {len(y)}: seconds per batch "
                                  f"({len(y) / median['ours']:.0f} vs {len(y) / median['torchattacks']:.0f} images/s)",
                       "baseline": f"torchattacks {torchattacks.__version__} FGSM",
                       "baseline_seconds": median["torchattacks"], "seconds": median["ours"], "ratio": ratio,
                       "target": "<= 1.0x", "meets_target": ratio <= 1.0}]
    result["max_abs_difference"] = max_gap
    io.write_json(args.out, result)
    print(f"ours {median['ours'] * 1e3:.2f} ms, torchattacks {median['torchattacks'] * 1e3:.2f} ms per batch of "
          f"{len(y)}: ratio {ratio:.3f} (outputs agree within {max_gap:.1e})")


if __name__ == "__main__":
    main()
