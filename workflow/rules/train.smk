# Training: one rule for a model's final weights; its first stage (two-stage protocols) is the same rule with
# other outputs. Each job trains one registry model (params.spec: its entry, the scale's limits applied).


rule train:
    input:
        unpack(first_stage_of),
        dataset=lambda w: dataset_file(model_entry(w)["dataset"]),
        code=code("scripts/train.py"),
    output:
        weights="results/models/{paper}/{model}/model.pt",
        provenance="results/models/{paper}/{model}/provenance.json",
    log:
        "results/logs/train/{paper}/{model}.log",
    benchmark:
        "results/benchmarks/rules/train/{paper}/{model}.tsv"
    conda:
        "../../environment.yml"
    threads: config["model_threads"]  # torch's intra-op threads (capped by --cores)
    params:
        spec=lambda w: registry.model_spec(config, PAPERS[w.paper], w.model),
        scale=config["scale"],
        device=config["device"],
        checkpoint_every=config["checkpoint_every"],
    script:
        "../../scripts/train.py"


use rule train as train_first_stage with:
    input:
        dataset=lambda w: dataset_file(model_entry(w)["dataset"]),
        code=code("scripts/train.py"),
    output:
        weights="results/models/{paper}/{model}/first_stage/model.pt",
        provenance="results/models/{paper}/{model}/first_stage/provenance.json",
    log:
        "results/logs/train/{paper}/{model}.first_stage.log",
    benchmark:
        "results/benchmarks/rules/train/{paper}/{model}.first_stage.tsv"
