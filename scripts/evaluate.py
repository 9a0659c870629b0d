"""Run one registry evaluation of one trained model; write a JSON result with provenance."""

import time

from advrepro import data, evaluate, io, models, provenance, runtime, training

sm = snakemake  # noqa: F821  (injected by Snakemake's script directive)
spec, model_spec = sm.params.spec, sm.params.model_spec
with runtime.log_to(sm.log[0]):
    started = time.time()
    device = runtime.select_device(sm.params.device)
    runtime.set_threads(sm.threads)
    split = "test" if spec["split"] == "test" else "train"
    images, labels, dataset_meta = data.load_split(sm.input.dataset, split, limit=spec["examples"], device=device)
    if spec["split"] == "validation":  # the held-out tail the model's first stage validated on
        start = training.held_out_split(len(labels), model_spec["training"]["protocol"])
        images, labels = images[start:], labels[start:]
    model = models.build(model_spec["architecture"], model_spec["dataset"], **model_spec["options"]).to(device)
    model.load_state_dict(io.load_tensors(sm.input.weights, device))
    model.eval()
    centered = dataset_meta.get("preprocessing", {}).get("kind") == "pixel_mean_255"
    result = evaluate.run(spec["kind"], model, images, labels, spec, seed=spec["seed"],
                          pixel_mean=data.pixel_mean(sm.input.dataset, device) if centered else None)
    io.write_json(sm.output[0], {
        "paper": sm.wildcards.paper, "model": sm.wildcards.model, "evaluation": sm.wildcards.evaluation,
        "spec": spec, "dataset": dataset_meta, "n": len(labels), **result,
        "provenance": provenance.record(spec, scale=sm.params.scale, seed=spec["seed"], device=device, started=started),
    })
