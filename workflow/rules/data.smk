rule prepare_dataset:
    input:
        code=code("scripts/prepare_dataset.py"),
    output:
        dataset_file("{dataset}"),
    log:
        "results/logs/prepare_dataset/{dataset}.log",
    conda:
        "../../environment.yml"
    params:
        raw_files=raw_files,  # the checksums it verifies, not the path it reads (config torchvision_root)
        download_root="resources/torchvision",
        variants=lambda w: DATASET_VARIANTS[w.dataset],
    script:
        "../../scripts/prepare_dataset.py"


rule preprocess_dataset:
    input:
        dataset_file("{dataset}"),
        code=code("scripts/preprocess_dataset.py"),
    output:
        dataset_file("{dataset}_{preprocessing}"),
    log:
        "results/logs/preprocess_dataset/{dataset}_{preprocessing}.log",
    wildcard_constraints:
        preprocessing="|".join(PREPROCESSING),  # the kinds of advrepro.preprocessing
    conda:
        "../../environment.yml"
    script:
        "../../scripts/preprocess_dataset.py"
