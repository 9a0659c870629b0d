rule prepare_dataset:
    output:
        dataset_file("{dataset}"),
    params:
        torchvision_root=config["torchvision_root"],
        download_root="resources/torchvision",
        synthetic_cifar10=config.get("synthetic_cifar10", False),
        variants=lambda w: DATASET_VARIANTS,
    log:
        "results/logs/prepare_dataset/{dataset}.log",
    conda:
        "../../environment.yml"
    script:
        "../../scripts/prepare_dataset.py"
