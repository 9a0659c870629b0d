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
    adversarial_set, set_summary = None, {}
    if spec["split"] == "adversarial_set":  # a fixed set built once from a baseline (rule adversarial_set)
        adversarial_set = io.load_tensors(sm.input.adversarial_set, device)
        images, labels = adversarial_set["images"], adversarial_set["labels"]
        dataset_meta = io.load_tensors(sm.input.dataset)["meta"]
        set_summary = {"adversarial_set": io.read_json(sm.input.adversarial_set_summary)}
    else:
        images, labels, dataset_meta = data.load_split(sm.input.dataset, split, limit=spec["examples"], device=device)
        if "classes" in model_spec:  # a subset of the classes, relabelled as in training
            images, labels = data.select_classes(images, labels, model_spec["classes"])
    if spec["split"] == "validation":  # the held-out tail the model's first stage validated on
        start = training.held_out_split(len(labels), model_spec["training"]["protocol"])
        images, labels = images[start:], labels[start:]
    model = models.load_trained(model_spec, sm.input.weights, device)
    centered = dataset_meta.get("preprocessing", {}).get("kind") == "pixel_mean_255"  # attacks clip to 0-255 pixels
    # an attack crafted on another model's weights (transfer)
    source = models.load_trained(spec["source_spec"], sm.input.source, device) if "source" in sm.input.keys() else None
    pixel_mean = data.pixel_mean(sm.input.dataset, device) if centered else None
    result = evaluate.run(spec["kind"], model, images, labels, spec, seed=spec["seed"], source=source,
                          adversarial_set=adversarial_set, pixel_mean=pixel_mean)
    io.write_json(sm.output[0], {
        "paper": sm.wildcards.paper, "model": sm.wildcards.model, "evaluation": sm.wildcards.evaluation,
        "spec": spec, "dataset": dataset_meta, "n": len(labels), **set_summary, **result,
        "provenance": provenance.record(spec, scale=sm.params.scale, seed=spec["seed"], device=device, started=started),
    })
