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
    cache: True  # trained once per lab: SNAKEMAKE_OUTPUT_CACHE=<shared folder> snakemake --cache (README)
    conda:
        "../../environment.yml"
    threads: config["model_threads"]  # torch's intra-op threads (capped by --cores)
    resources:
        gpu_slots=1,  # one of the GPU's slots: --resources gpu_slots=4 packs four model jobs on one GPU
        gpu_jobs=gpu_jobs(),  # its CUDA memory is capped at 1/gpu_jobs of the GPU
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
