"""The `snakemake` object of one job, so that a workflow script also runs by hand, outside Snakemake, for
debugging in a plain Python shell or a debugger (as pypsa-eur's mock_snakemake):

    python scripts/evaluate.py paper=lyu2015 model=softmax_wd1 evaluation=noise \\
        --configfile config/scales/smoke.yaml --config torchvision_root=../shared/datasets/mnist-offline

builds the job of the script's rule (or of `--rule NAME`, e.g. train_first_stage) with those wildcards
exactly as the workflow would (inputs, outputs, params, threads, log, config) and runs the script on it;
its inputs must exist (run the workflow up to them first). Run it from the repository root.
"""

from __future__ import annotations

import sys
from pathlib import Path

from advrepro import worker


def snakemake_object(namespace: dict, rule: str, argv: list[str] | None = None, warm=lambda sm: True):
    """Snakemake's `snakemake` object when the script runs under Snakemake (it is in the script's global
    `namespace`); otherwise the object of the job of `rule` that the command line names (see above).

    Under a local run, a job for which `warm(sm)` holds hands its script over to the run's warm Python
    (advrepro.worker) here, and this process only waits for it."""
    if "snakemake" in namespace:
        if warm(namespace["snakemake"]):
            worker.hand_over()
        return namespace["snakemake"]
    rules, wildcards, configfiles, config = parse_command_line(sys.argv[1:] if argv is None else argv)
    return job_object(rules[-1] if rules else rule, wildcards, configfiles, config)


def parse_command_line(argv: list[str]) -> tuple[list[str], dict, list[str], dict]:
    """(--rule, wildcards, --configfile files, --config values) of
    `name=value ... [--rule R] [--configfile F ...] [--config k=v ...]`."""
    from snakemake.cli import parse_config

    rules, wildcards, configfiles, config, target = [], {}, [], [], None
    for arg in argv:
        if arg in ("--rule", "--configfile", "--config"):
            target = {"--rule": rules, "--configfile": configfiles, "--config": config}[arg]
        elif target is not None:
            target.append(arg)
        elif "=" in arg:
            key, value = arg.split("=", 1)
            wildcards[key] = value
        else:
            raise SystemExit(f"expected wildcard=value, --configfile or --config, got {arg!r} ({__doc__.split(':')[0]})")
    return rules, wildcards, configfiles, parse_config(config)


def job_object(rule: str, wildcards: dict, configfiles: list[str] = (), config: dict | None = None):
    """The `snakemake` object Snakemake would hand the script of `rule`'s job with `wildcards`."""
    import snakemake.dag
    import snakemake.jobs
    from snakemake.api import SnakemakeApi
    from snakemake.script import Snakemake
    from snakemake.settings.types import (ConfigSettings, DAGSettings, OutputSettings, ResourceSettings,
                                          StorageSettings, WorkflowSettings)

    with SnakemakeApi(OutputSettings(quiet={})) as api:
        settings = ConfigSettings(configfiles=[Path(f) for f in configfiles], config=config or {})
        workflow = api.workflow(resource_settings=ResourceSettings(cores=1), config_settings=settings,
                                storage_settings=StorageSettings(), workflow_settings=WorkflowSettings(),
                                snakefile=Path("Snakefile"), workdir=Path("."))._workflow
        workflow.dag_settings = DAGSettings()
        job_rule = workflow.get_rule(rule)
        job = snakemake.jobs.Job(job_rule, snakemake.dag.DAG(workflow, rules=[job_rule]), wildcards_dict=wildcards)
        missing = [path for path in job.input if not Path(path).exists()]
        if missing:
            raise SystemExit(f"inputs of this job are missing (run the workflow up to them first): {', '.join(missing)}")
        return Snakemake(job.input, job.output, job.params, job.wildcards, job.threads, job.resources, job.log,
                         workflow.config, job.rule.name, None)
