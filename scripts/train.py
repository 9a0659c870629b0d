"""Train one registry model (or the first stage of a two-stage one); write its weights and a
provenance JSON with the training record beside them."""

from advrepro import jobs

# Snakemake's, or by hand: see advrepro.jobs; a probe's job (limits.max_steps) measures its own process's peak
# memory, so it keeps its process (a fork of the warm Python starts at another resident size: 375 against 583 MiB)
sm = jobs.snakemake_object(globals(), "train", warm=lambda sm: "max_steps" not in sm.params.spec["training"])
# the imports below come after the hand-over to a local run's warm Python (advrepro.worker), which has them

from pathlib import Path

from advrepro import data, io, models, probe, provenance, runtime, training

spec = sm.params.spec
name = f"{sm.wildcards.paper}/{sm.wildcards.model}" + (" (first stage)" if sm.rule.endswith("first_stage") else "")
with runtime.model_job(sm) as job:
    device = job.device
    runtime.seed_everything(spec["seed"])
    images, labels, dataset_meta = data.training_examples(sm.input.dataset, spec, device)
    model = models.build(spec["architecture"], spec["dataset"], **spec["options"]).to(device)
    first_stage = None
    if "first_stage" in sm.input.keys():  # two_stage continues from the first stage's weights
        model.load_state_dict(io.load_tensors(sm.input.first_stage, device))
    if "first_stage_record" in sm.input.keys():
        first_stage = io.read_json(sm.input.first_stage_record)["training"]
    probing = "max_steps" in spec["training"]  # a probe (limits.max_steps): a few steps at full size, measured
    protocol = spec["training"].get("protocol", {}).get("kind")
    if probing and not sm.rule.endswith("first_stage") and protocol in probe.SECOND_STAGES:
        first_stage = probe.first_stage_stand_in(spec["training"])  # a second stage, probed without its first
    monitor = None
    if spec["training"].get("monitor_test"):  # test error per epoch, logged only (e.g. Shaham et al. Fig. 5)
        monitor = data.load_split(sm.input.dataset, "test", device=device)[:2]
    checkpoint = Path(sm.output.weights).with_name("checkpoint.pt")
    # a checkpoint resumes only for this registry entry (its label aside) and this library code
    setup = {"model": {k: v for k, v in spec.items() if k != "label"}, "code": provenance.files_digest(sm.input.code)}
    record = training.train(model, images, labels, spec=spec["training"], seed=spec["seed"], checkpoint=checkpoint,
                            checkpoint_every=sm.params.checkpoint_every, name=name, first_stage=first_stage,
                            monitor=monitor, setup=setup)
    if probing:
        record["probe"] = probe.measure(model, spec["training"], images, labels) | {
            "train_split_examples": data.split_size(sm.input.dataset, "train")}
    io.save_tensors(sm.output.weights, {k: v.cpu() for k, v in model.state_dict().items()})
    io.write_json(sm.output.provenance, {
        "paper": sm.wildcards.paper, "model": sm.wildcards.model, "stage": sm.rule, "spec": spec,
        "dataset": dataset_meta, "n_train": len(labels), "training": record,
        "provenance": job.provenance(spec, spec["seed"]),
    })
    checkpoint.unlink(missing_ok=True)
