"""Benchmark: the whole lambda path of one digit pair by the warm-started path solver against
scikit-learn's LinearSVC (liblinear) fitted lambda by lambda on the same data (target: >= 5x faster).

Both run on one CPU thread (liblinear has one; the path solver limits BLAS to one) and stop at
tolerance `tol` of the registry: our relative duality gap, liblinear's own projected-gradient rule
(LinearSVC's `tol`), with max_iter raised so that liblinear meets it. Each is timed `--repeats` times
(median); the path solver's one-off numba compilation is done before and reported apart. The JSON
also records how far each solver's objective lies above the lower of the two, lambda by lambda.

    python benchmarks/svm_path.py --dataset resources/datasets/mnist.pt --svm "$(registry svm block as JSON)" \
        --out results/benchmarks/tanay2016/svm_path.json
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import torch
import yaml

from advrepro import benchmarking, data, io, svm

LIBLINEAR_MAX_ITER = 1_000_000


def liblinear_path(x: np.ndarray, y: np.ndarray, c: torch.Tensor, spec: dict):
    """LinearSVC lambda by lambda: u = [w, b / s] per lambda and the iterations liblinear ran."""
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.svm import LinearSVC

    u, iterations = [], []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        for ck in c.tolist():
            fit = LinearSVC(loss="hinge", C=ck, tol=spec["tol"], intercept_scaling=spec["bias_scale"],
                            max_iter=LIBLINEAR_MAX_ITER, random_state=0).fit(x, y)
            u.append(np.r_[fit.coef_[0], fit.intercept_[0] / spec["bias_scale"]])
            iterations.append(int(fit.n_iter_))
    return torch.tensor(np.array(u)), iterations


def main() -> None:
    parser = benchmarking.parser(__doc__, models=False, dataset=True)
    parser.add_argument("--svm", required=True, help="the registry's svm block as YAML/JSON")
    parser.add_argument("--pair", default="3v7")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    spec = yaml.safe_load(args.svm)
    images, labels, _ = data.load_split(args.dataset, "train")
    x, y = (t.double() for t in svm.pair_split(images, labels, args.pair, spec["per_class"]))
    x = spec["pixel_scale"] * x
    lambdas = svm.lambdas_of(spec["alphas"])
    c = svm.penalty_weight(lambdas, len(y), spec["hinge"])
    a = svm.augment(x, y, spec["bias_scale"])

    def ours_path():
        return svm.path(x, y, lambdas, hinge=spec["hinge"], bias_scale=spec["bias_scale"], tol=spec["tol"],
                        max_epochs=spec["max_epochs"])

    few = torch.cat([torch.arange(10), torch.arange(len(y) - 10, len(y))])
    compile_seconds, _ = benchmarking.seconds(lambda: svm.path(x[few], y[few], lambdas[:2]))
    runs = {"ours": ours_path, "liblinear": lambda: liblinear_path(x.numpy(), y.numpy(), c, spec)}
    ours, (theirs_u, liblinear_iterations) = runs["ours"](), runs["liblinear"]()  # the answers (and a warm-up)
    median = benchmarking.interleaved_medians(runs, args.repeats, warmup=0)
    ours_seconds, theirs_seconds = median["ours"], median["liblinear"]
    ours_objective = ours["objective"]
    their_objective = 2 * lambdas * svm.liblinear_objectives(theirs_u, a, c)
    best = torch.minimum(ours_objective, their_objective)
    ratio = theirs_seconds / ours_seconds
    result = {
        "name": Path(args.out).stem, "title": args.title,
        "device": "cpu", "lambdas": len(lambdas), "examples": len(y), "repeats": args.repeats,
        "rows": [{"measure": f"{args.pair}: {len(lambdas)}-lambda path (median of {args.repeats})",
                  "baseline": "LinearSVC (liblinear), lambda by lambda",
                  "baseline_seconds": theirs_seconds, "seconds": ours_seconds, "ratio": ratio,
                  "target": "speed-up >= 5x", "meets_target": ratio >= 5.0}],
        "numba_compile_seconds": compile_seconds,
        "ours": {"largest_gap": float(ours["gap"].max()), "epochs": int(ours["epochs"].sum()),
                 "largest_excess": float(((ours_objective - best) / best).max())},
        "liblinear": {"iterations": sum(liblinear_iterations), "largest_excess": float(((their_objective - best) / best).max()),
                      "lambdas_over_tol_excess": int(((their_objective - best) / best > spec["tol"]).sum())},
    }
    io.write_json(args.out, result)
    print(f"LinearSVC {theirs_seconds:.2f}s, ours {ours_seconds:.2f}s, ratio {ratio:.2f} (target >= 5x); "
          f"objective above the lower of the two: ours <= {result['ours']['largest_excess']:.1e}, "
          f"liblinear <= {result['liblinear']['largest_excess']:.1e}")


if __name__ == "__main__":
    main()
