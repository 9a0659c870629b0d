rule evaluate:
    input:
        unpack(attack_source),
        weights=evaluated_weights,
        dataset=lambda w: dataset_file(model_entry(w)["dataset"]),
        code=lib("evaluate", "attacks", "objectives", "perturbations", "models", "training", "data", "io", "theory"),
    output:
        "results/evals/{paper}/{model}/{evaluation}.json",
    params:
        spec=lambda w: registry.evaluation_spec(config, PAPERS[w.paper], w.evaluation, w.model),
        model_spec=lambda w: registry.model_spec(config, PAPERS[w.paper], w.model),
        scale=config["scale"],
        device=config["device"],
    threads: config["model_threads"]  # torch's intra-op threads (capped by --cores)
    log:
        "results/logs/evaluate/{paper}/{model}/{evaluation}.log",
    benchmark:
        "results/benchmarks/rules/evaluate/{paper}/{model}/{evaluation}.tsv"
    conda:
        "../../environment.yml"
    script:
        "../../scripts/evaluate.py"
