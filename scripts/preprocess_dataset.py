"""Preprocess a prepared dataset archive (e.g. pylearn2's CIFAR-10 GCN + ZCA) into a new archive."""

from advrepro import jobs

sm = jobs.snakemake_object(globals(), "preprocess_dataset")  # Snakemake's, or by hand: see advrepro.jobs
# the imports below come after the hand-over to a local run's warm Python (advrepro.worker), which has them

import sys

from advrepro import preprocessing, runtime

with runtime.log_to(sm.log[0]):
    meta = preprocessing.preprocess(sm.input[0], sm.output[0], sm.wildcards.preprocessing)
    print(f"preprocessed {sm.input[0]} -> {sm.output[0]}: {meta}", file=sys.stderr)
