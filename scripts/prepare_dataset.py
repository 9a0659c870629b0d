"""Download (or read) and verify a dataset, then write its prepared tensor archive."""

from advrepro import data, runtime

sm = snakemake  # noqa: F821  (injected by Snakemake's script directive)
name, root = sm.wildcards.dataset, sm.params.torchvision_root
with runtime.log_to(sm.log[0]):
    if name == "cifar10" and sm.params.synthetic_cifar10:
        meta = data.synthetic_cifar10(sm.output[0], n_train=5000, n_test=1000, seed=0)
    else:
        meta = data.prepare(name, sm.output[0], root=root or sm.params.download_root, download=root is None,
                            variants=sm.params.variants.get(name, {}))
    print(f"prepared {name}: {meta}")
