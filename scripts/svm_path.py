"""Train the SVMs of one digit pair along the whole lambda path (Tanay & Griffin 2016) and write, per
lambda, the weights (in [0,1] pixel units), train and test error, d_adv, d_err and theta, as JSON."""

import torch

from advrepro import data, io, jobs, runtime, svm, theory

sm = jobs.snakemake_object(globals(), "svm_path")  # Snakemake's, or by hand: see advrepro.jobs
spec, pair = sm.params.spec, sm.wildcards.pair
with runtime.model_job(sm) as job:
    device = job.device
    train_images, train_labels, meta = data.load_split(sm.input.dataset, "train", device=device)
    test_images, test_labels, _ = data.load_split(sm.input.dataset, "test", device=device)
    x, y = (t.double() for t in svm.pair_split(train_images, train_labels, pair, spec["per_class"]))
    x_test, y_test = (t.double() for t in svm.pair_split(test_images, test_labels, pair))
    lambdas = svm.lambdas_of(spec["alphas"]).to(device)
    print(f"{pair}: {len(y)} training images ({len(y) // 2} per class), {len(lambdas)} lambdas", flush=True)
    fit = svm.path(spec["pixel_scale"] * x, y, lambdas, hinge=spec["hinge"], bias_scale=spec["bias_scale"],
                   tol=spec["tol"], max_epochs=spec["max_epochs"])
    w, b = spec["pixel_scale"] * fit["w"], fit["b"]  # the same classifiers on [0,1] pixels
    i, j = theory.centroids(x, y)

    def error(images, labels):
        return (labels[:, None] * theory.raw_score(w, b, images) <= 0).double().mean(0)

    result = {
        "alpha": torch.log10(lambdas).tolist(), "lambda": lambdas.tolist(),
        "train_error": error(x, y).tolist(), "test_error": error(x_test, y_test).tolist(),
        "d_adv": theory.adversarial_distance(w, b, x, y).tolist(), "d_err": theory.error_distance(w, b, x, y).tolist(),
        "theta": theory.tilting_angle(w, i, j).tolist(), "centroid_distance": float((j - i).norm()),
        "norm_w": w.norm(dim=1).tolist(), "b": b.tolist(), "w": w.tolist(), "i": i.tolist(), "j": j.tolist(),
        "objective": fit["objective"].tolist(), "gap": fit["gap"].tolist(), "epochs": fit["epochs"].tolist(),
    }
    print(f"{pair}: largest duality gap {max(result['gap']):.2e}, most epochs {max(result['epochs'])}")
    io.write_json(sm.output[0], {
        "paper": sm.wildcards.paper, "model": pair, "evaluation": "svm_path",
        "spec": {**spec, "split": "train"}, "dataset": meta, "n_train": len(y), "n_test": len(y_test), **result,
        "provenance": job.provenance(spec, None),
    })
