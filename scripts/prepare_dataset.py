"""Download (or read) and verify a dataset, then write its prepared tensor archive."""

from advrepro import jobs

sm = jobs.snakemake_object(globals(), "prepare_dataset")  # Snakemake's, or by hand: see advrepro.jobs
# the imports below come after the hand-over to a local run's warm Python (advrepro.worker), which has them

from advrepro import checksums, data, runtime

# the root is read from the config, not a rule parameter: the job is keyed on the files' checksums
# (params.raw_files), so another spelling of the same path, or a copy elsewhere, is the same dataset
name, root = sm.wildcards.dataset, sm.config["torchvision_root"]
with runtime.log_to(sm.log[0]):
    if sm.params.raw_files == checksums.SYNTHETIC:
        # 20,000 training images: ZCA (3,072 features) fitted on 5,000 of them whitened the test images to a 33%
        # larger norm than the training images (7% at 20,000; real CIFAR-10's 50,000 less still)
        meta = data.synthetic_cifar10(sm.output[0], n_train=20000, n_test=1000, seed=0)
    else:
        meta = data.prepare(name, sm.output[0], root=root or sm.params.download_root, download=root is None,
                            variants=sm.params.variants)
    print(f"prepared {name}: {meta}")
