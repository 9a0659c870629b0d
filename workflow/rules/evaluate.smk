rule evaluate:
    input:
        unpack(attack_source),
        unpack(evaluation_set),
        weights=evaluated_weights,
        dataset=lambda w: dataset_file(model_entry(w)["dataset"]),
        code=evaluation_code,
    output:
        "results/evals/{paper}/{model}/{evaluation}.json",
    log:
        "results/logs/evaluate/{paper}/{model}/{evaluation}.log",
    benchmark:
        "results/benchmarks/rules/evaluate/{paper}/{model}/{evaluation}.tsv"
    conda:
        "../../environment.yml"
    threads: config["model_threads"]  # torch's intra-op threads (capped by --cores)
    resources:
        gpu_slots=1,  # packing on one GPU, as rule train
        gpu_jobs=gpu_jobs(),
    params:
        spec=lambda w: registry.evaluation_spec(config, PAPERS[w.paper], w.evaluation, w.model),
        model_spec=lambda w: registry.model_spec(config, PAPERS[w.paper], w.model),
        scale=config["scale"],
        device=config["device"],
    script:
        "../../scripts/evaluate.py"


rule adversarial_set:
    input:
        weights=lambda w: weights_file(w.paper, adversarial_set_entry(w)["model"]),
        dataset=lambda w: dataset_file(PAPERS[w.paper]["models"][adversarial_set_entry(w)["model"]]["dataset"]),
        code=code("scripts/adversarial_set.py"),
    output:
        data="results/adversarial_sets/{paper}/{set}.pt",
        summary="results/adversarial_sets/{paper}/{set}.json",
    log:
        "results/logs/adversarial_set/{paper}/{set}.log",
    wildcard_constraints:
        set=r"[^/.]+",
    conda:
        "../../environment.yml"
    threads: config["model_threads"]
    resources:
        gpu_slots=1,  # packing on one GPU, as rule train
        gpu_jobs=gpu_jobs(),
    params:
        spec=adversarial_set_entry,
        model_spec=lambda w: registry.model_spec(config, PAPERS[w.paper], adversarial_set_entry(w)["model"]),
        examples=config["limits"]["eval_examples"],  # built from the test points every evaluation sees
        scale=config["scale"],
        device=config["device"],
    script:
        "../../scripts/adversarial_set.py"
