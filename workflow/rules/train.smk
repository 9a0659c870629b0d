rule train_first_stage:
    input:
        dataset=lambda w: dataset_file(model_entry(w)["dataset"]),
        code=lib("training", "objectives", "evaluate", "attacks", "models", "perturbations", "data", "io", "theory"),
    output:
        weights="results/models/{paper}/{model}/first_stage/model.pt",
        provenance="results/models/{paper}/{model}/first_stage/provenance.json",
    params:
        spec=lambda w: registry.model_spec(config, PAPERS[w.paper], w.model),
        scale=config["scale"],
        device=config["device"],
        checkpoint_every=config["checkpoint_every"],
    threads: config["model_threads"]  # torch's intra-op threads (capped by --cores)
    log:
        "results/logs/train/{paper}/{model}.first_stage.log",
    benchmark:
        "results/benchmarks/rules/train/{paper}/{model}.first_stage.tsv"
    conda:
        "../../environment.yml"
    script:
        "../../scripts/train.py"


rule train:
    input:
        unpack(first_stage_of),
        dataset=lambda w: dataset_file(model_entry(w)["dataset"]),
        code=lib("training", "objectives", "evaluate", "attacks", "models", "perturbations", "data", "io", "theory"),
    output:
        weights="results/models/{paper}/{model}/model.pt",
        provenance="results/models/{paper}/{model}/provenance.json",
    params:
        spec=lambda w: registry.model_spec(config, PAPERS[w.paper], w.model),
        scale=config["scale"],
        device=config["device"],
        checkpoint_every=config["checkpoint_every"],
    threads: config["model_threads"]  # torch's intra-op threads (capped by --cores)
    log:
        "results/logs/train/{paper}/{model}.log",
    benchmark:
        "results/benchmarks/rules/train/{paper}/{model}.tsv"
    conda:
        "../../environment.yml"
    script:
        "../../scripts/train.py"
