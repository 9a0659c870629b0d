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


rule preprocess_dataset:
    input:
        dataset_file("{dataset}"),
        code=lib("data", "io"),
    output:
        dataset_file("{dataset}_gcn_zca"),
    params:
        # pylearn2 make_cifar10_gcn_whitened.py: GCN scale 55, ZCA filter bias 0.1, fit on the training set
        options={"kind": "gcn_zca", "scale": 55.0, "filter_bias": 0.1},
    log:
        "results/logs/preprocess_dataset/{dataset}_gcn_zca.log",
    conda:
        "../../environment.yml"
    script:
        "../../scripts/preprocess_dataset.py"


rule center_dataset:
    input:
        dataset_file("{dataset}"),
        code=lib("data", "io"),
    output:
        dataset_file("{dataset}_centered"),
    params:
        options={"kind": "pixel_mean_255"},  # MatConvNet cnn_mnist: 0-255 minus the training pixel mean
    log:
        "results/logs/preprocess_dataset/{dataset}_centered.log",
    conda:
        "../../environment.yml"
    script:
        "../../scripts/preprocess_dataset.py"
