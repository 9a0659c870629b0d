"""Train one registry model; write its weights and a provenance JSON beside them."""

import time
from pathlib import Path

from advrepro import data, io, models, provenance, runtime, training

sm = snakemake  # noqa: F821  (injected by Snakemake's script directive)
spec = sm.params.spec
with runtime.log_to(sm.log[0]):
    started = time.time()
    device = runtime.select_device(sm.params.device)
    runtime.seed_everything(spec["seed"])
    images, labels, dataset_meta = data.load_split(sm.input.dataset, "train", limit=spec["train_examples"], device=device)
    model = models.build(spec["architecture"], spec["dataset"]).to(device)
    checkpoint = Path(sm.output.weights).with_name("checkpoint.pt")
    history = training.train(model, images, labels, spec=spec["training"], seed=spec["seed"], checkpoint=checkpoint,
                             checkpoint_every=sm.params.checkpoint_every, name=f"{sm.wildcards.paper}/{sm.wildcards.model}")
    io.save_tensors(sm.output.weights, {k: v.cpu() for k, v in model.state_dict().items()})
    io.write_json(sm.output.provenance, {
        "paper": sm.wildcards.paper, "model": sm.wildcards.model, "spec": spec, "dataset": dataset_meta,
        "n_train": len(labels), "history": history,
        "provenance": provenance.record(spec, scale=sm.params.scale, seed=spec["seed"], device=device, started=started),
    })
    checkpoint.unlink(missing_ok=True)
