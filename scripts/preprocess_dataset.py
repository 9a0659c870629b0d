"""Preprocess a prepared dataset archive (e.g. pylearn2's CIFAR-10 GCN + ZCA) into a new archive."""

import sys

from advrepro import data, runtime

sm = snakemake  # noqa: F821  (injected by Snakemake's script directive)
with runtime.log_to(sm.log[0]):
    meta = data.preprocess(sm.input[0], sm.output[0], **(sm.params.options or {}))
    print(f"preprocessed {sm.input[0]} -> {sm.output[0]}: {meta}", file=sys.stderr)
