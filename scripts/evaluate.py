"""Run one registry evaluation of one trained model; write a JSON result with provenance."""

from advrepro import jobs

sm = jobs.snakemake_object(globals(), "evaluate")  # Snakemake's, or by hand: see advrepro.jobs
# the imports below come after the hand-over to a local run's warm Python (advrepro.worker), which has them

from advrepro import benchmarking, data, evaluate, io, models, papers, runtime

spec, model_spec = sm.params.spec, sm.params.model_spec
with runtime.model_job(sm) as job:
    device = job.device
    papers.module(sm.wildcards.paper)  # registers the paper's own evaluation kinds
    evaluate.register_generic()  # and the generic ones outside advrepro.evaluate (today's attacks)
    adversarial_set, set_summary = None, {}
    if spec["split"] == "adversarial_set":  # a fixed set built once from a baseline (rule adversarial_set)
        adversarial_set = io.load_tensors(sm.input.adversarial_set, device)
        set_summary = {"adversarial_set": io.read_json(sm.input.adversarial_set_summary)}
    images, labels, dataset_meta = data.evaluation_examples(sm.input.dataset, spec, model_spec, device, adversarial_set)
    model = models.load_trained(model_spec, sm.input.weights, device)
    inputs = evaluate.EvaluationInputs(
        model, images, labels, seed=spec["seed"], adversarial_set=adversarial_set,
        source=models.load_trained(spec["source_spec"], sm.input.source, device) if "source" in spec else None,
        pixel_mean=data.pixel_mean(sm.input.dataset, dataset_meta, device), meta=dataset_meta)
    compute_s, result = benchmarking.seconds(lambda: evaluate.run(spec["kind"], inputs, evaluate.options_of(spec)))
    io.write_json(sm.output[0], {
        "paper": sm.wildcards.paper, "model": sm.wildcards.model, "evaluation": sm.wildcards.evaluation,
        "spec": spec, "dataset": dataset_meta, "n": len(labels), **set_summary, **result,
        "provenance": job.provenance(spec, spec["seed"]) | {"compute_s": round(compute_s, 6)},  # the kind alone
    })
