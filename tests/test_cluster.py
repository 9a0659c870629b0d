"""The workflow on a GPU cluster, through profiles/slurm.

- A dry run (everywhere): Snakemake's own resource report asks for a GPU for every job that trains
  or runs a model, and for none elsewhere.
- A real one-node SLURM cluster on loopback (tests/cluster/local_slurm.sh; marked `cluster`; needs
  root, slurm-wlm and munge, else skipped, or failed when ADVREPRO_REQUIRE_CLUSTER=1 as in CI): the
  whole smoke workflow gives the same tables as the local run, training jobs were submitted with a
  GPU and cheap ones without, and a failing job is reported and retried.
"""

import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from conftest import REPO, smoke_args
from test_workflow import REGISTRIES, _copy_checkout, job_counts, snakemake

pytestmark = pytest.mark.workflow

LOCAL_SLURM = REPO / "tests" / "cluster" / "local_slurm.sh"
REQUIRE_CLUSTER = os.environ.get("ADVREPRO_REQUIRE_CLUSTER") == "1"
# Rules that train or run a model: one GPU each, and every benchmark but the CPU ones (`cpu: true` in the
# registries: the SVM path benchmark runs on one CPU thread). Every other rule (the SVM paths too): none.
GPU_RULES = {"train", "train_first_stage", "evaluate", "adversarial_set", "benchmark"}
CPU_BENCHMARKS = {name for reg in REGISTRIES.values() for name, b in reg.get("benchmarks", {}).items() if b.get("cpu")}


def wants_gpu(rule: str, job: str) -> bool:
    """Whether a job of `rule`, described by `job` (its dry-run block or SLURM comment), should get a GPU."""
    return rule in GPU_RULES and not (rule == "benchmark" and benchmark_name(job) in CPU_BENCHMARKS)


def benchmark_name(job: str) -> str:
    """The benchmark a benchmark job runs: from its dry-run block's wildcards, or its SLURM comment
    (rule_benchmark_wildcards_<paper>_<benchmark>). Not a substring test: a block may end in the next job's
    header (a GPU benchmark's block followed by "Group job svm_paths" read as the CPU benchmark svm_path)."""
    found = re.search(r"^\s+wildcards: .*\bbenchmark=(\w+)", job, re.M) or re.fullmatch(
        r"rule_benchmark_wildcards_[a-z0-9]+_(\w+)", job)
    assert found, f"no benchmark name in {job!r}"
    return found[1]


CHEAP_RULES = {"prepare_dataset", "table", "figure", "notebook", "report", "all"}
# The test node: like its GPUs (placeholders, CUDA_VISIBLE_DEVICES with no device behind it), larger
# than the machine, so that jobs overlap while they wait on the status checks.
TEST_NODE = {"LOCAL_SLURM_GPUS": "4", "LOCAL_SLURM_CPUS": "16", "LOCAL_SLURM_MEM_MB": "65536"}
# What the cluster run builds: the least part of the smoke workflow that has every kind of job a cluster treats
# differently (21 jobs; CI runs it beside the whole local smoke run, both on 2 cores, so each job here costs the
# smoke run time too): a dataset and its preprocessing, both training stages, evaluations, a fixed adversarial set,
# the SVM paths as a group job, a GPU and a CPU benchmark, a table and a figure, each through a named target.
# Its tables must equal the local run's. [] runs everything.
CLUSTER_TARGETS: list[str] = ["lyu2015_table2", "shaham2015_fig1", "tanay2016_svm_summary",
                              "results/benchmarks/goodfellow2014/fgsm.json", "results/benchmarks/tanay2016/svm_path.json"]
# The local cluster has no accounting database: status by squeue (see profiles/slurm/config.yaml),
# checked soon after submission (the default waits 40 s).
STATUS = ["--slurm-status-command", "squeue", "--slurm-init-seconds-before-status-checks", "5"]


def job_resources(result: subprocess.CompletedProcess) -> list[tuple[str, dict[str, str], str]]:
    """(rule, resources, the job's block) of every job that Snakemake lists, as its `resources:` line reports them."""
    jobs = []
    for block in re.split(r"^(?=\s*(?:local)?rule \w+:$)", result.stdout + result.stderr, flags=re.M):
        rule = re.match(r"\s*(?:local)?rule (\w+):$", block, re.M)  # indented inside a group job
        resources = re.search(r"^\s+resources: (.*)$", block, re.M)
        if rule and resources:
            jobs.append((rule[1], dict(item.split("=", 1) for item in resources[1].split(", ")), block))
    return jobs


def test_slurm_profile_asks_for_a_gpu_exactly_for_the_jobs_that_run_models(tmp_path):
    checkout = _copy_checkout(tmp_path)
    targets = snakemake(checkout, "--list-target-rules").stdout.split()  # all + every named table/figure
    result = snakemake(checkout, *targets, "--profile", "profiles/slurm", "-n")
    jobs = job_resources(result)
    assert len(jobs) == sum(job_counts(result).values())
    assert (result.stdout + result.stderr).count("Group job svm_paths") == 5  # 45 SVM paths in 5 submissions
    rules = {rule for rule, _, _ in jobs}
    assert {"train", "evaluate", "benchmark"} <= rules and CHEAP_RULES <= rules
    assert any(re.fullmatch(r"lyu2015_(table|fig)\w+", rule) for rule in rules)  # named targets
    for rule, resources, block in jobs:
        assert resources["slurm_partition"] and resources["runtime"] and resources["mem_mb"], (rule, resources)
        if wants_gpu(rule, block):
            assert resources.get("gpu") == "1", (rule, resources)
        else:
            assert resources.get("gpu", "0") == "0" and "gres" not in resources, (rule, resources)


# ---------------------------------------------------------------- a real SLURM cluster on loopback


def _why_no_local_slurm() -> str | None:
    path = os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin", "/sbin"])
    missing = [c for c in ("sinfo", "sbatch", "squeue", "scontrol", "slurmctld", "slurmd", "munged")
               if not shutil.which(c, path=path)]
    if missing:
        return f"SLURM is not installed ({', '.join(missing)} missing): apt-get install slurm-wlm munge"
    if os.geteuid() != 0:
        return "the local SLURM cluster needs root (slurmd runs the jobs)"
    conf = Path("/etc/slurm/slurm.conf")
    if conf.exists() and "Written by tests/cluster/local_slurm.sh" not in conf.read_text():
        return f"{conf} belongs to a real SLURM installation; not replacing it"
    return None


@pytest.fixture(scope="module")
def local_slurm():
    """A one-node SLURM cluster with placeholder GPUs, stopped (by PID) at the end of the module."""
    reason = _why_no_local_slurm()
    if reason:
        if REQUIRE_CLUSTER:
            pytest.fail(f"ADVREPRO_REQUIRE_CLUSTER=1, but no local SLURM cluster can run here: {reason}")
        pytest.skip(reason)
    env = {**os.environ, **TEST_NODE}
    try:
        started = subprocess.run([str(LOCAL_SLURM), "start"], env=env, capture_output=True, text=True, timeout=180)
        if started.returncode != 0:
            pytest.fail(f"local SLURM did not start:\n{started.stdout}\n{started.stderr}")
        yield
    finally:
        stopped = subprocess.run([str(LOCAL_SLURM), "stop"], env=env, capture_output=True, text=True, timeout=300)
    assert stopped.returncode == 0, f"local SLURM did not stop:\n{stopped.stdout}\n{stopped.stderr}"


@pytest.fixture(scope="module")
def site_checkout(tmp_path_factory):
    """A fresh checkout whose SLURM profile got the only edits a user makes: partition and account."""
    checkout = _copy_checkout(tmp_path_factory.mktemp("cluster"))
    profile = checkout / "profiles/slurm/config.yaml"
    text, partitions = re.subn(r'^(\s*slurm_partition:)\s*"[^"]*"', r'\1 "debug"', profile.read_text(), flags=re.M)
    text, accounts = re.subn(r"^\s*slurm_account:.*\n", "", text, flags=re.M)  # no accounts here
    assert (partitions, accounts) == (1, 1), "profiles/slurm/config.yaml: one slurm_partition and one slurm_account"
    profile.write_text(text)
    return checkout


def slurm_command(*args: str, limit: int) -> list[str]:
    """snakemake --profile profiles/slurm, bounded: Snakemake ignores SIGTERM while it waits on jobs."""
    return ["timeout", "-k", "10", str(limit), sys.executable, "-m", "snakemake", "--profile", "profiles/slurm",
            *STATUS, *args]


def slurm_snakemake(workdir: Path, *args: str, limit: int) -> subprocess.CompletedProcess:
    return subprocess.run(slurm_command(*args, limit=limit), cwd=workdir, capture_output=True, text=True)


def slurm_jobs(run: subprocess.CompletedProcess) -> list[dict[str, str]]:
    """The jobs of one Snakemake run as slurmctld lists them (it keeps finished jobs for MinJobAge)."""
    run_id = re.search(r"SLURM run ID: (\S+)", run.stdout + run.stderr)[1]
    listing = subprocess.run(["scontrol", "show", "job", "--oneliner"], capture_output=True, text=True, check=True)
    jobs = [dict(re.findall(r"(\w+)=(\S*)", line)) for line in listing.stdout.splitlines()]
    return sorted((job for job in jobs if job.get("JobName") == run_id), key=lambda job: int(job["JobId"]))


def rule_of(job: dict[str, str]) -> str:
    """The rule of a job, from the comment the executor plugin gives it (rule_<name>[_wildcards_<...>])."""
    return re.fullmatch(r"rule_(\w+?)(?:_wildcards_.*)?", job["Comment"])[1]


def _failure(run: subprocess.CompletedProcess, workdir: Path) -> str:
    logs = sorted((workdir / ".snakemake/slurm_logs").rglob("*.log")) if (workdir / ".snakemake").exists() else []
    kept = "\n".join(f"--- {log}\n{log.read_text()[-2000:]}" for log in logs[-3:])
    return f"exit {run.returncode}\n{run.stdout[-3000:]}\n{run.stderr[-6000:]}\n{kept}"


@pytest.fixture(scope="module")
def cluster_run(local_slurm, site_checkout, offline_mnist, request):
    """Part of the smoke workflow through SLURM, as a researcher runs it on a cluster, while the local smoke run
    (whose tables it must equal; shared with the workflow tests) runs beside it: the cluster run mostly waits on
    SLURM's status checks and on each job step's start-up, so the two together take little more than the longer."""
    command = slurm_command(*CLUSTER_TARGETS, *smoke_args(offline_mnist), limit=2400)
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:  # files: a full pipe would block it
        with subprocess.Popen(command, cwd=site_checkout, stdout=out, stderr=err, text=True) as process:
            try:
                request.getfixturevalue("smoke_run")
            except BaseException:
                process.kill()
                raise
        out.seek(0)
        err.seek(0)
        run = subprocess.CompletedProcess(command, process.returncode, out.read(), err.read())
    assert run.returncode == 0, _failure(run, site_checkout)
    return site_checkout, run


@pytest.mark.cluster
def test_cluster_smoke_run_gives_the_tables_of_the_local_run(cluster_run, request):
    workdir, _ = cluster_run
    # made beside the cluster run, in its fixture (a session fixture named as an argument would be made first, alone)
    smoke_run = request.getfixturevalue("smoke_run")
    local, remote = smoke_run[0] / "results/tables", workdir / "results/tables"
    tables = sorted(p.relative_to(remote) for p in remote.rglob("*.csv"))
    assert tables and (CLUSTER_TARGETS or tables == sorted(p.relative_to(local) for p in local.rglob("*.csv")))
    for table in tables:
        assert (remote / table).read_text() == (local / table).read_text(), f"{table} differs from the local run"
    assert CLUSTER_TARGETS or (workdir / "results/report/index.html").exists()


@pytest.mark.cluster
def test_training_jobs_were_submitted_with_a_gpu_and_cheap_jobs_without(cluster_run):
    workdir, run = cluster_run
    by_rule = {}
    for job in slurm_jobs(run):
        by_rule.setdefault(rule_of(job), []).append(job)
    # Every job of the run went through SLURM, once, except those Snakemake runs itself (`all`).
    local = set(re.findall(r"^localrule (\w+):$", run.stdout + run.stderr, re.M))
    planned = {rule: n for rule, n in job_counts(run).items() if rule not in local}
    # The SVM paths go as group jobs ("svm_paths_svm_path"), one submission per 9 pairs (group-components).
    svm_paths = planned.pop("svm_path")
    assert len(by_rule.pop("svm_paths_svm_path")) == -(-svm_paths // 9)
    assert {rule: len(jobs) for rule, jobs in by_rule.items()} == planned
    assert "train" in by_rule and set(by_rule) - GPU_RULES  # both kinds were submitted
    for rule, jobs in by_rule.items():
        for job in jobs:
            want = "gres:gpu:1" if wants_gpu(rule, job["Comment"]) else None
            assert job.get("TresPerJob") == want, (rule, job["Comment"], job.get("TresPerJob"))
    # Each training job saw the GPU that SLURM handed it, found no working CUDA behind it, and said so.
    train_logs = list((workdir / "results/logs/train").rglob("*.log"))
    assert train_logs
    for log in train_logs:
        text = log.read_text()
        assert "CUDA_VISIBLE_DEVICES=" in text and "using the CPU" in text, log


@pytest.mark.cluster
def test_a_failing_job_is_reported_and_retried(local_slurm, site_checkout, tmp_path):
    workdir = tmp_path / "retry"
    run = slurm_snakemake(site_checkout, "--snakefile", "tests/cluster/Snakefile", "--directory", str(workdir),
                          limit=300)
    assert run.returncode == 0, _failure(run, workdir)
    output = run.stdout + run.stderr
    assert "Error in rule flaky" in output and "SLURM status is: 'FAILED'" in output
    assert "Trying to restart job" in output
    assert (workdir / "flaky.txt").read_text().strip() == "2"  # written by the second attempt
    failed_log = Path(re.search(r"log: (\S+/slurm_logs/rule_flaky/\S+\.log)", output)[1])
    assert "flaky: failing on purpose" in failed_log.read_text()  # the failed job's log is kept
    states = [job["JobState"] for job in slurm_jobs(run) if rule_of(job) == "flaky"]
    assert states == ["FAILED", "COMPLETED"]
