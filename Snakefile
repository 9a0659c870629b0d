# advrepro: every table and figure of four papers on adversarial examples, beside the papers' numbers.
#   snakemake                     paper scale (GPU cluster: --profile profiles/slurm)
#   snakemake --configfile config/scales/quick.yaml      quick scale on a laptop CPU
#   snakemake lyu2015_table8      one table alone
import shutil
import json
import sys

import yaml

from snakemake.exceptions import WorkflowError

from advrepro import registry


configfile: "config/config.yaml"


try:
    PAPERS = registry.load(config, workflow.basedir)
except registry.ConfigError as error:
    raise WorkflowError(f"invalid configuration:\n{error}")


wildcard_constraints:
    paper="|".join(PAPERS),
    model=r"[^/]+",
    evaluation=r"[^/]+",
    dataset="mnist|cifar10",  # raw datasets; preprocessed ones add a suffix (data.smk)


include: "workflow/rules/common.smk"
include: "workflow/rules/data.smk"
include: "workflow/rules/train.smk"
include: "workflow/rules/evaluate.smk"
include: "workflow/rules/svm.smk"
include: "workflow/rules/tables.smk"
include: "workflow/rules/figures.smk"
include: "workflow/rules/report.smk"


rule all:
    default_target: True
    input:
        report_outputs(),
