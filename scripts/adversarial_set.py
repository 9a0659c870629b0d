"""Build one fixed adversarial set (Shaham et al. 2015, A_mnist / A_cifar10) from a trained baseline on
the test split, its radii scaled to the paper's set size when the registry asks for it (`calibrate`); write its
tensors and a JSON summary with its size per step, the calibration and provenance."""

from advrepro import jobs

sm = jobs.snakemake_object(globals(), "adversarial_set")  # Snakemake's, or by hand: see advrepro.jobs
# the imports below come after the hand-over to a local run's warm Python (advrepro.worker), which has them

from advrepro import attacks, data, io, models, runtime

spec, model_spec = sm.params.spec, sm.params.model_spec
with runtime.model_job(sm) as job:
    device = job.device
    images, labels, dataset_meta = data.load_split(sm.input.dataset, "test", limit=sm.params.examples, device=device)
    model = models.load_trained(model_spec, sm.input.weights, device)
    steps, calibration = spec["steps"], None
    if "calibrate" in spec:  # the paper's size on its full test set, in proportion on a smaller one
        target = round(spec["calibrate"]["size"] * len(labels) / spec["calibrate"]["test_points"])
        found = attacks.calibrate_radii(model, images, labels, steps, target, clip=spec.get("clip"))
        steps, calibration = found.steps, {"target": target, "scale": found.scale, "size": found.size}
    built = attacks.adversarial_set(model, images, labels, steps, clip=spec.get("clip"))
    io.save_tensors(sm.output.data, {k: v.cpu() if hasattr(v, "cpu") else v for k, v in built.items()})
    sizes = [int((built["step"] == i).sum()) for i in range(len(steps))]
    io.write_json(sm.output.summary, {
        "paper": sm.wildcards.paper, "set": sm.wildcards.set, "spec": spec, "dataset": dataset_meta,
        "source_examples": len(labels), "size": len(built["labels"]), "calibration": calibration,
        "size_per_step": [{**step, "size": n} for step, n in zip(steps, sizes)],
        "provenance": job.provenance(spec, 0),
    })
    print(f"{sm.wildcards.set}: {len(built['labels'])} adversarial examples from {len(labels)} test points "
          f"(radii {[s['eps'] for s in steps]}, sizes per step: {sizes}; calibration: {calibration})")
