rule prepare_dataset:
    output:
        dataset_file("{dataset}"),
    params:
        raw_files=raw_files,  # the checksums it verifies, not the path it reads (config torchvision_root)
        download_root="resources/torchvision",
        variants=lambda w: DATASET_VARIANTS[w.dataset],
    log:
        "results/logs/prepare_dataset/{dataset}.log",
    conda:
        "../../environment.yml"
    script:
        "../../scripts/prepare_dataset.py"


PREPROCESSING = {
    # pylearn2 make_cifar10_gcn_whitened.py: GCN scale 55, ZCA filter bias 0.1, fit on the training set
    "gcn_zca": {"kind": "gcn_zca", "scale": 55.0, "filter_bias": 0.1},
    # Shaham et al. 2015: MNIST standardized per split, padded to 32x32; CIFAR-10 YUV + LCN (data.py)
    "standardize_pad32": {"kind": "standardize_pad32"},
    "yuv": {"kind": "yuv"},
    # Tanay & Griffin 2016 (MatConvNet cnn_mnist): raw 0-255 pixels minus the training pixel mean
    "centered": {"kind": "pixel_mean_255"},
}


rule preprocess_dataset:
    input:
        dataset_file("{dataset}"),
        code=lib("data", "io"),
    output:
        dataset_file("{dataset}_{preprocessing}"),
    wildcard_constraints:
        preprocessing="|".join(PREPROCESSING),
    params:
        options=lambda w: PREPROCESSING[w.preprocessing],
    log:
        "results/logs/preprocess_dataset/{dataset}_{preprocessing}.log",
    conda:
        "../../environment.yml"
    script:
        "../../scripts/preprocess_dataset.py"

