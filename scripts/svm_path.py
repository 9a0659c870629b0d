"""Train the SVMs of one digit pair along the whole lambda path (Tanay & Griffin 2016) and write, per
lambda, the weights and bias, train and test error, d_adv, d_err, theta and the bias as the authors draw
it (all in [0,1] pixel units); the same curves on the smaller training sets of `trend_per_class`; and the
authors' published curves of the pair, as JSON."""

from advrepro import jobs

sm = jobs.snakemake_object(globals(), "svm_path")  # Snakemake's, or by hand: see advrepro.jobs
# the imports below come after the hand-over to a local run's warm Python (advrepro.worker), which has them

import hashlib
import pathlib

import torch

from advrepro import data, io, runtime, svm, theory

spec, pair = sm.params.spec, sm.wildcards.pair


def fit(x, y, x_test, y_test, lambdas):
    """The path on (x, y) and its curves: errors on (x, y) and the test images, and the geometry."""
    solved = svm.path(x, y, spec["lambda_scale"] * lambdas, hinge=spec["hinge"], tol=spec["tol"],
                      max_epochs=spec["max_epochs"])
    w, b = solved["w"], solved["b"]
    i, j = theory.centroids(x, y)

    def error(images, labels):
        return (labels[:, None] * theory.raw_score(w, b, images) <= 0).double().mean(0).tolist()

    curves = {"per_class": len(y) // 2, "train_error": error(x, y), "test_error": error(x_test, y_test),
              "d_adv": theory.adversarial_distance(w, b, x, y).tolist(), "theta": theory.tilting_angle(w, i, j).tolist(),
              "offset": theory.midpoint_offset(w, b, i, j).tolist()}
    return solved, curves, i, j


with runtime.model_job(sm) as job:
    device = job.device
    train_images, train_labels, meta = data.load_split(sm.input.dataset, "train", device=device)
    test_images, test_labels, _ = data.load_split(sm.input.dataset, "test", device=device)
    x_test, y_test = (t.double() for t in svm.pair_split(test_images, test_labels, pair))
    lambdas = svm.lambdas_of(spec["alphas"]).to(device)
    x, y = (t.double() for t in svm.pair_split(train_images, train_labels, pair, spec["per_class"]))
    print(f"{pair}: {len(y)} training images ({len(y) // 2} per class), {len(lambdas)} lambdas", flush=True)
    solved, curves, i, j = fit(x, y, x_test, y_test, lambdas)
    w, b = solved["w"], solved["b"]
    trend = [fit(*(t.double() for t in svm.pair_split(train_images, train_labels, pair, n)), x_test, y_test, lambdas)[1]
             for n in spec["trend_per_class"] if n < len(y) // 2]
    alphas = torch.log10(lambdas).tolist()
    result = {
        "alpha": alphas, "lambda": lambdas.tolist(), **curves,
        "d_err": theory.error_distance(w, b, x, y).tolist(), "centroid_distance": float((j - i).norm()),
        "norm_w": w.norm(dim=1).tolist(), "b": b.tolist(), "w": w.tolist(), "i": i.tolist(), "j": j.tolist(),
        "objective": solved["objective"].tolist(), "gap": solved["gap"].tolist(), "epochs": solved["epochs"].tolist(),
        "trend": trend,
        "authors": {**svm.authors_curves(sm.input.reference, alphas), "source": sm.input.reference,
                    "sha256": hashlib.sha256(pathlib.Path(sm.input.reference).read_bytes()).hexdigest()},
    }
    print(f"{pair}: largest duality gap {max(result['gap']):.2e}, most epochs {max(result['epochs'])}")
    io.write_json(sm.output[0], {
        "paper": sm.wildcards.paper, "model": pair, "evaluation": "svm_path",
        "spec": {**spec, "split": "train"}, "dataset": meta, "n_train": len(y), "n_test": len(y_test), **result,
        "provenance": job.provenance(spec, None),
    })
