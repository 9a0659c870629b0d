# The probe (config/scales/probe.yaml, issue 16): every paper-scale training job at full size for limits.max_steps
# optimizer steps, one evaluation of each kind on a few examples, the SVM paths whole; then the projected cost of
# the paper scale (advrepro.cost). Its files go to results/cost/, apart from the other scales' results.


def probe_weights(paper, model, stage="final"):
    """A probed model's weights after its few steps (the probe of another paper's model is that paper's)."""
    folder = f"results/cost/{'/'.join(registry.model_owner(paper, model))}/train"
    return f"{folder}/model.pt" if stage == "final" else f"{folder}/first_stage/model.pt"


use rule train as probe_train with:
    input:
        dataset=lambda w: dataset_file(model_entry(w)["dataset"]),
        code=code("scripts/train.py"),
    output:
        weights="results/cost/{paper}/{model}/train/model.pt",
        provenance="results/cost/{paper}/{model}/train/provenance.json",
    log:
        "results/logs/probe/{paper}/{model}.log",
    benchmark:
        "results/benchmarks/rules/probe/{paper}/{model}.tsv"


use rule train as probe_train_first_stage with:
    input:
        dataset=lambda w: dataset_file(model_entry(w)["dataset"]),
        code=code("scripts/train.py"),
    output:
        weights="results/cost/{paper}/{model}/train/first_stage/model.pt",
        provenance="results/cost/{paper}/{model}/train/first_stage/provenance.json",
    log:
        "results/logs/probe/{paper}/{model}.first_stage.log",
    benchmark:
        "results/benchmarks/rules/probe/{paper}/{model}.first_stage.tsv"


use rule evaluate as probe_evaluation with:
    input:
        weights=lambda w: probe_weights(w.paper, w.model),
        dataset=lambda w: dataset_file(model_entry(w)["dataset"]),
        code=evaluation_code,
    output:
        "results/cost/{paper}/{model}/evaluate/{evaluation}.json",
    log:
        "results/logs/probe/{paper}/{model}/{evaluation}.log",
    benchmark:
        "results/benchmarks/rules/probe/{paper}/{model}/{evaluation}.tsv"


def probe_files():
    """What the probe runs: every training job of the paper scale, an evaluation of each kind, the SVM paths."""
    trained = {
        f"{p}/{m}/{s}": f"results/cost/{p}/{m}/train/" + ("" if s == "final" else "first_stage/") + "provenance.json"
        for p, m, s in cost.training_jobs(PAPERS)
    }
    evaluated = {
        k: f"results/cost/{p}/{m}/evaluate/{e}.json" for k, (p, m, e) in cost.evaluation_probes(PAPERS).items()
    }
    svm = [f for p in PAPERS for g in ("tables", "figures") for a in PAPERS[p][g].values() for f in svm_files(p, a)]
    return {"trained": trained, "evaluated": evaluated, "svm": sorted(set(svm))}


rule cost_projection:
    input:
        trained=lambda w: list(probe_files()["trained"].values()),
        evaluated=lambda w: list(probe_files()["evaluated"].values()),
        svm=lambda w: probe_files()["svm"],
        code=code("scripts/cost_projection.py"),
    output:
        json="results/cost/projection.json",
        csv="results/cost/jobs.csv",
    log:
        "results/logs/cost_projection.log",
    conda:
        "../../environment.yml"
    params:
        files=probe_files(),
        papers=PAPERS,
        cost=config["cost"],
        scale=config["scale"],
    script:
        "../../scripts/cost_projection.py"
