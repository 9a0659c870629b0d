"""Run one registry evaluation of one trained model; write a JSON result with provenance."""

import time

from advrepro import data, evaluate, io, models, provenance, runtime

sm = snakemake  # noqa: F821  (injected by Snakemake's script directive)
spec, model_spec = sm.params.spec, sm.params.model_spec
with runtime.log_to(sm.log[0]):
    started = time.time()
    device = runtime.select_device(sm.params.device)
    images, labels, dataset_meta = data.load_split(sm.input.dataset, spec["split"], limit=spec["examples"], device=device)
    model = models.build(model_spec["architecture"], model_spec["dataset"]).to(device)
    model.load_state_dict(io.load_tensors(sm.input.weights, device))
    model.eval()
    result = evaluate.run(spec["kind"], model, images, labels, spec, seed=spec["seed"])
    io.write_json(sm.output[0], {
        "paper": sm.wildcards.paper, "model": sm.wildcards.model, "evaluation": sm.wildcards.evaluation,
        "spec": spec, "dataset": dataset_meta, **result,
        "provenance": provenance.record(spec, scale=sm.params.scale, seed=spec["seed"], device=device, started=started),
    })
