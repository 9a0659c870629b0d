"""Benchmark: the whole lambda path of one digit pair by the batched, warm-started solver against
scikit-learn's LinearSVC (liblinear) fitted lambda by lambda on the same data (target: >= 5x).

Both stop at tolerance `--tol`: our relative duality gap, liblinear's projected-gradient span (its own
rule; LinearSVC's default tol is 1e-4). The JSON also records how far apart the two objectives are.

    python benchmarks/svm_path.py --dataset resources/datasets/mnist.pt --registry config/papers/tanay2016.yaml \
        --out results/benchmarks/svm_path.json
"""

from __future__ import annotations

import argparse
import time
import warnings

import numpy as np
import torch
import yaml

from advrepro import data, io, runtime, svm


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", required=True)
    parser.add_argument("--spec", required=True, help="the registry's svm block as YAML/JSON")
    parser.add_argument("--pair", default="3v7")
    parser.add_argument("--out", required=True)
    parser.add_argument("--device", default="auto")
    args = parser.parse_args()
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.svm import LinearSVC

    spec = yaml.safe_load(args.spec)
    device = runtime.select_device(args.device)
    images, labels, _ = data.load_split(args.dataset, "train")
    x, y = (t.double() for t in svm.pair_split(images, labels, args.pair, spec["per_class"]))
    x = spec["pixel_scale"] * x
    lambdas = svm.lambdas_of(spec["alphas"])
    started = time.perf_counter()
    ours = svm.path(x.to(device), y.to(device), lambdas.to(device), hinge=spec["hinge"], bias_scale=spec["bias_scale"],
                    tol=spec["tol"], max_iter=spec["max_iter"], block=spec["block"])
    ours_seconds = time.perf_counter() - started
    c = svm.penalty_weight(lambdas, len(y), spec["hinge"])
    a = svm.augment(x, y, spec["bias_scale"])
    theirs, started = [], time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        for k in range(len(lambdas)):
            fit = LinearSVC(loss="hinge", C=float(c[k]), tol=spec["tol"], intercept_scaling=spec["bias_scale"],
                            random_state=0).fit(x.numpy(), y.numpy())
            theirs.append(np.r_[fit.coef_[0], fit.intercept_[0] / spec["bias_scale"]])
    sklearn_seconds = time.perf_counter() - started
    their_objective = 2 * lambdas * svm.liblinear_objectives(torch.tensor(np.array(theirs)), a, c)
    relative = (ours["objective"].cpu() - their_objective) / their_objective
    ratio = sklearn_seconds / ours_seconds
    result = {
        "name": "svm_path", "title": f"SVM lambda path of {args.pair} ({len(lambdas)} lambdas, {len(y)} images): "
                                     "batched warm-started solver vs LinearSVC lambda by lambda",
        "device": str(device), "lambdas": len(lambdas), "examples": len(y),
        "rows": [{"measure": f"{args.pair}: {len(lambdas)}-lambda path", "baseline": "LinearSVC (liblinear), lambda by lambda",
                  "baseline_seconds": sklearn_seconds, "seconds": ours_seconds, "ratio": ratio,
                  "target": "speed-up >= 5x", "meets_target": ratio >= 5.0}],
        "objective_relative_difference": {"max": float(relative.max()), "min": float(relative.min()),
                                          "median": float(relative.median())},
        "largest_gap": float(ours["gap"].max()),
    }
    io.write_json(args.out, result)
    print(f"LinearSVC {sklearn_seconds:.2f}s, ours {ours_seconds:.2f}s, ratio {ratio:.2f} (target >= 5x); "
          f"objective ours/theirs - 1 in [{relative.min():.2e}, {relative.max():.2e}]")


if __name__ == "__main__":
    main()
