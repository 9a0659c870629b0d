# The probe (config/scales/probe.yaml, issue 16): every paper-scale training job at full size for limits.max_steps
# optimizer steps, one evaluation of each kind on a few examples, the SVM paths whole; then the projected cost of
# the paper scale (advrepro.cost). Its files go to results/cost/, apart from the other scales' results.


use rule train as probe_train with:
    input:
        dataset=lambda w: dataset_file(model_entry(w)["dataset"]),
        code=code("scripts/train.py"),
    output:
        weights="results/cost/{paper}/{model}/train/model.pt",
        provenance="results/cost/{paper}/{model}/train/provenance.json",
    log:
        "results/logs/probe/{paper}/{model}.log",


use rule train as probe_train_first_stage with:
    input:
        dataset=lambda w: dataset_file(model_entry(w)["dataset"]),
        code=code("scripts/train.py"),
    output:
        weights="results/cost/{paper}/{model}/train/first_stage/model.pt",
        provenance="results/cost/{paper}/{model}/train/first_stage/provenance.json",
    log:
        "results/logs/probe/{paper}/{model}.first_stage.log",


use rule adversarial_set as probe_adversarial_set with:
    input:
        weights=lambda w: probe_weights(w.paper, adversarial_set_entry(w)["model"]),
        dataset=lambda w: dataset_file(PAPERS[w.paper]["models"][adversarial_set_entry(w)["model"]]["dataset"]),
        code=code("scripts/adversarial_set.py"),
    output:
        data="results/cost/adversarial_sets/{paper}/{set}.pt",
        summary="results/cost/adversarial_sets/{paper}/{set}.json",
    log:
        "results/logs/probe/adversarial_set/{paper}/{set}.log",


use rule evaluate as probe_evaluation with:
    input:
        unpack(lambda w: evaluation_set(w, "results/cost")),
        weights=lambda w: probe_weights(w.paper, w.model),
        dataset=lambda w: dataset_file(model_entry(w)["dataset"]),
        code=evaluation_code,
    output:
        "results/cost/{paper}/{model}/evaluate/{evaluation}.json",
    log:
        "results/logs/probe/{paper}/{model}/{evaluation}.log",
    benchmark:
        "results/benchmarks/rules/probe/{paper}/{model}/{evaluation}.tsv"


rule cost_projection:
    input:
        trained=lambda w: list(probe_files()["trained"].values()),
        evaluated=lambda w: list(probe_files()["evaluated"].values()),
        svm=lambda w: probe_files()["svm"],
        sets=lambda w: list(probe_files()["sets"].values()),
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


rule cost_report:
    input:
        projection="results/cost/projection.json",
        templates=["report/cost_page.html.j2", "report/cost.html.j2", "report/style.css"],
        code=code("scripts/cost_report.py"),
    output:
        html="results/cost/report.html",
    log:
        "results/logs/cost_report.log",
    conda:
        "../../environment.yml"
    script:
        "../../scripts/cost_report.py"
