"""Benchmark: FGSM images per second of advrepro.attacks.one_step against torchattacks.FGSM.

The same trained model (Goodfellow et al. 2014's maxout MLP), the same batch of MNIST test images
and eps; torchattacks clamps to [0, 1], so ours runs with clip=(0, 1) and the two outputs must agree.
The two are interleaved over rounds and the median time per batch of each is kept; the ratio is
ours / torchattacks (target: <= 1, at least as fast). torchattacks is a test/benchmark extra
(`pip install --no-deps torchattacks`, done by `make setup`); without it the row says so.

    python benchmarks/fgsm.py --weights results/models/goodfellow2014/maxout/model.pt \
        --dataset resources/datasets/mnist.pt --out results/benchmarks/fgsm.json
"""

from __future__ import annotations

import argparse
import math
import statistics
import time

import torch

from advrepro import data, io, models, runtime
from advrepro.attacks import one_step


def seconds(fn, x: torch.Tensor) -> float:
    """Wall time of one call (CUDA synchronised)."""
    if x.is_cuda:
        torch.cuda.synchronize()
    start = time.perf_counter()
    fn()
    if x.is_cuda:
        torch.cuda.synchronize()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--weights", required=True)
    parser.add_argument("--dataset", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--batch-size", type=int, default=1000)
    parser.add_argument("--eps", type=float, default=0.25)
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--device", default="auto")
    args = parser.parse_args()

    device = runtime.select_device(args.device)
    model = models.load_trained({"architecture": "maxout_mlp", "dataset": "mnist", "options": {}}, args.weights, device)
    x, y, _ = data.load_split(args.dataset, "test", limit=args.batch_size, device=device)
    ours = lambda: one_step(model, x, y, eps=args.eps, clip=(0.0, 1.0))  # noqa: E731
    result = {"name": "fgsm", "title": "FGSM images per second: advrepro one_step against torchattacks.FGSM",
              "device": str(device), "batch_size": len(y), "eps": args.eps, "rounds": args.rounds}
    try:
        import torchattacks
    except ImportError:
        ours_time = statistics.median(seconds(ours, x) for _ in range(args.rounds))
        result["rows"] = [{"measure": f"FGSM, maxout MLP, batch {len(y)}: seconds per batch",
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
    times = {"ours": [], "torchattacks": []}
    for _ in range(2):  # warm-up
        ours(), theirs(x, y)
    for _ in range(args.rounds):
        times["ours"].append(seconds(ours, x))
        times["torchattacks"].append(seconds(lambda: theirs(x, y), x))
    median = {k: statistics.median(v) for k, v in times.items()}
    ratio = median["ours"] / median["torchattacks"]
    result["rows"] = [{"measure": f"FGSM, maxout MLP, batch {len(y)}: seconds per batch "
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
