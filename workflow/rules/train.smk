rule train:
    input:
        dataset=lambda w: dataset_file(model_entry(w)["dataset"]),
        code=lib("training", "models", "data", "io"),
    output:
        weights="results/models/{paper}/{model}/model.pt",
        provenance="results/models/{paper}/{model}/provenance.json",
    params:
        spec=lambda w: registry.model_spec(config, PAPERS[w.paper], w.model),
        scale=config["scale"],
        device=config["device"],
        checkpoint_every=config["checkpoint_every"],
    log:
        "results/logs/train/{paper}/{model}.log",
    benchmark:
        "results/benchmarks/rules/train/{paper}/{model}.tsv"
    conda:
        "../../environment.yml"
    script:
        "../../scripts/train.py"
