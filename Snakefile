# advrepro: every table and figure of four papers on adversarial examples, beside the papers' numbers.
#   snakemake                     paper scale (GPU cluster: --profile profiles/slurm)
#   snakemake --configfile config/scales/quick.yaml      quick scale on a laptop CPU
#   snakemake lyu2015_table8      one table alone
import json
import shlex
import shutil
import sys
from pathlib import Path

import yaml

from snakemake.exceptions import WorkflowError

from advrepro import catalog, checksums, codedeps, cost, papers, registry
from advrepro.data import DATASETS
from advrepro.preprocessing import PREPROCESSING

if not Path("config/config.yaml").is_file():  # paths below are relative to the repository root
    raise WorkflowError(
        f"run advrepro from its repository root: cd {workflow.basedir} (or add -d {workflow.basedir}); "
        f"the working directory {Path.cwd()} has no config/config.yaml"
    )


configfile: "config/config.yaml"


try:
    PAPERS = registry.load(config, workflow.basedir, workflow.overwrite_configfiles)
    registry.check_tools(config)
except registry.ConfigError as error:
    raise WorkflowError(f"invalid configuration:\n{error}")


wildcard_constraints:
    paper="|".join(PAPERS),
    model=rf"(?:(?:{'|'.join(PAPERS)})/)?[^/]+",  # <paper>/<model>: another paper's model (registry.model_owner)
    evaluation=r"[^/]+",
    dataset="|".join(DATASETS),  # raw datasets; preprocessed ones add a suffix (data.smk)


include: "workflow/rules/common.smk"
include: "workflow/rules/data.smk"
include: "workflow/rules/train.smk"
include: "workflow/rules/evaluate.smk"
include: "workflow/rules/svm.smk"
include: "workflow/rules/tables.smk"
include: "workflow/rules/figures.smk"
include: "workflow/rules/benchmarks.smk"
include: "workflow/rules/scorecard.smk"
include: "workflow/rules/report.smk"
include: "workflow/rules/cost.smk"
include: "workflow/rules/run_hooks.smk"


rule all:
    default_target: True
    input:
        # a probe (config/scales/probe.yaml) projects the paper scale's cost instead of reporting its numbers
        "results/cost/report.html" if config["scale"] == "probe" else report_outputs(),
