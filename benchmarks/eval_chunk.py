"""Benchmark: an evaluation's passes in chunks of EVAL_BATCH_SIZE against all test points in one chunk.

The work is an FGSM sweep (`evaluate.fgsm_sweep`: one input gradient, then a forward pass per eps), the pattern of
every gradient evaluation, on the same trained registry models and test points. The baseline is the chunk size
the evaluations used before (10,000: every test point at once); ours is `inference.EVAL_BATCH_SIZE`. The two are
interleaved over `repeats` rounds (median of each). Writes the times, their ratio per model and the largest
difference between the two answers to a JSON file.

    python benchmarks/eval_chunk.py --models '{"conv_maxout": <registry entry>}' \
        --weights results/models/lyu2015/conv_maxout/model.pt --dataset resources/datasets/mnist.pt \
        --out results/benchmarks/lyu2015/eval_chunk.json
"""

from __future__ import annotations

from pathlib import Path

from advrepro import benchmarking, data, io, models, runtime
from advrepro.evaluate import fgsm_sweep
from advrepro.inference import EVAL_BATCH_SIZE

ONE_CHUNK = 10_000  # the evaluations' chunk size before EVAL_BATCH_SIZE


def main() -> None:
    parser = benchmarking.parser(__doc__, trained=True)
    parser.add_argument("--examples", type=int, default=1000)
    parser.add_argument("--epsilons", type=float, nargs="+", default=[0.1])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    device = runtime.select_device(args.device)
    x, y, _ = data.load_split(args.dataset, "test", limit=args.examples, device=device)
    rows, differences = [], {}
    for (name, spec), weights in zip(args.models.items(), args.weights):
        model = models.load_trained(spec, weights, device)
        runs = {chunk: (lambda chunk=chunk: fgsm_sweep(model, x, y, epsilons=args.epsilons, batch_size=chunk))
                for chunk in (ONE_CHUNK, EVAL_BATCH_SIZE)}
        answers = {chunk: run() for chunk, run in runs.items()}  # the answers (and a warm-up)
        median = benchmarking.interleaved_medians(runs, args.repeats, warmup=0)
        differences[name] = max(abs(a["error"] - b["error"]) for a, b in zip(*answers.values()))
        ratio = median[ONE_CHUNK] / median[EVAL_BATCH_SIZE]
        rows.append({"measure": f"{name}: FGSM sweep ({len(args.epsilons)} eps) on {len(y)} test points, "
                                f"chunks of {EVAL_BATCH_SIZE}", "baseline": f"chunks of {ONE_CHUNK}",
                     "baseline_seconds": median[ONE_CHUNK], "seconds": median[EVAL_BATCH_SIZE], "ratio": ratio,
                     "target": "speed-up >= 0.9x (no slower, within the timing noise)",
                     "meets_target": ratio >= 0.9})
        print(f"{name}: {ONE_CHUNK} {median[ONE_CHUNK]:.3f}s, {EVAL_BATCH_SIZE} {median[EVAL_BATCH_SIZE]:.3f}s, "
              f"speed-up {ratio:.2f}x; largest error difference {differences[name]}")
    io.write_json(args.out, {"name": Path(args.out).stem, "title": args.title, "device": str(device),
                             "examples": len(y), "epsilons": args.epsilons, "chunk": EVAL_BATCH_SIZE,
                             "rows": rows, "max_error_difference": differences})


if __name__ == "__main__":
    main()
