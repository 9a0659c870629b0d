"""The workflow as a user runs it: dry runs, lint, bad input, and a whole smoke-scale run."""

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import REPO

pytestmark = pytest.mark.workflow
import yaml

LYU2015 = yaml.safe_load((REPO / "config/papers/lyu2015.yaml").read_text())
PAPER_JOBS = {"prepare_dataset": 2, "preprocess_dataset": 1, "train_first_stage": 13, "train": 28, "evaluate": 43,
              "table": len(LYU2015["tables"]), "figure": len(LYU2015["figures"]), "notebook": 1,
              "benchmark_line_search": 1, "benchmark_train_step": 1, "report": 1}
TANAY2016 = yaml.safe_load((REPO / "config/papers/tanay2016.yaml").read_text())
# jobs tanay2016 adds (mnist and the report are shared): 45 SVM paths, the centered MNIST, LeNet low/high
TANAY2016_JOBS = {"svm_path": 45, "center_dataset": 1, "train": 2, "evaluate": 6, "table": len(TANAY2016["tables"]),
                  "figure": len(TANAY2016["figures"]), "notebook": 1, "benchmark_svm_path": 1}


def _all_jobs(*papers: dict) -> dict:
    """Expected job counts of several papers' workflows together."""
    total = {}
    for jobs in papers:
        for rule, count in jobs.items():
            total[rule] = total.get(rule, 0) + count
    return total


def _copy_checkout(target: Path) -> Path:
    """The files a fresh clone would have (tracked, plus new files not ignored), without results."""
    files = subprocess.run(["git", "ls-files", "-co", "--exclude-standard"], cwd=REPO, capture_output=True,
                           text=True, check=True).stdout.split()
    for name in files:
        if (REPO / name).is_file():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / name, target / name)
    return target


def snakemake(workdir: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    result = subprocess.run([sys.executable, "-m", "snakemake", "--cores", "2", *args], cwd=workdir,
                            capture_output=True, text=True)
    if check and result.returncode != 0:
        raise AssertionError(f"snakemake {' '.join(args)} failed:\n{result.stdout[-3000:]}\n{result.stderr[-6000:]}")
    return result


def job_counts(result: subprocess.CompletedProcess) -> dict[str, int]:
    """The 'Job stats' table of a dry run as {rule: count}."""
    text = result.stdout + result.stderr
    if "Nothing to be done" in text:
        return {}
    stats = text.split("Job stats:")[1].split("total")[0]
    return {m[1]: int(m[2]) for m in re.finditer(r"^(\w+)\s+(\d+)\s*$", stats, re.M)}


@pytest.fixture
def checkout(tmp_path):
    return _copy_checkout(tmp_path)


def test_paper_scale_dry_run_lists_every_job(checkout):
    counts = job_counts(snakemake(checkout, "-n"))
    expected = _all_jobs(PAPER_JOBS, TANAY2016_JOBS)
    assert {rule: counts.get(rule) for rule in expected} == expected


def test_lint_reports_nothing(checkout):
    result = snakemake(checkout, "--lint")
    assert "Lints for" not in result.stdout + result.stderr


def test_bad_config_key_stops_the_run_naming_key_and_allowed_keys(checkout):
    result = snakemake(checkout, "-n", "--config", "scael=quick", check=False)
    assert result.returncode != 0
    output = result.stdout + result.stderr
    assert "unknown key 'scael' (did you mean 'scale'?)" in output and "allowed keys:" in output


def test_missing_dataset_says_how_to_provide_it(checkout, tmp_path):
    empty = tmp_path / "empty-root"
    empty.mkdir()
    result = snakemake(checkout, "resources/datasets/mnist.pt", "--config", f"torchvision_root={empty}", check=False)
    assert result.returncode != 0
    assert "MNIST was not found" in result.stdout + result.stderr and "torchvision_root=" in result.stdout + result.stderr
    assert not (checkout / "resources/datasets/mnist.pt").exists()


def test_smoke_run_produces_the_report_and_every_artifact(smoke_run):
    workdir, _ = smoke_run
    html = (workdir / "results/report/index.html").read_text()
    assert "Scale: <strong>smoke</strong>" in html and "not the paper-scale reproduction" in html
    for artifact in [*LYU2015["tables"], *LYU2015["figures"]]:
        assert f'id="lyu2015-{artifact}"' in html
    assert "40.07" in html and "13.26" in html  # printed numbers of Tables VII and III, from the registry
    assert "cited: Mairal et al. 2014" in html  # a cited row, marked as such
    assert "synthetic-standin" in html  # CIFAR-10 came from the stand-in, and the report says so
    benchmark = json.loads((workdir / "results/benchmarks/train_step.json").read_text())
    assert {r["measure"].split(":")[0] for r in benchmark["rows"]} == {"maxout_mlp", "conv_maxout_mnist"}
    assert (workdir / "results/report/notebooks/lyu2015.html").exists()
    if shutil.which("latexmk") or os.environ.get("CI"):  # CI installs TeX: the PDF must build there
        assert (workdir / "results/report/report.pdf").read_bytes()[:5] == b"%PDF-"


def test_a_finished_table_has_nothing_to_do(smoke_run):
    workdir, smoke = smoke_run
    assert job_counts(snakemake(workdir, "-n", "lyu2015_table8", *smoke)) == {}


def test_changing_table7_noise_levels_reruns_only_what_depends_on_them(smoke_run, tmp_path):
    workdir, smoke = smoke_run
    overlay = tmp_path / "noise.yaml"
    overlay.write_text("overrides:\n  lyu2015:\n    evaluations:\n      noise: {stds: [0, 0.2, 0.3]}\n")
    configfiles = [smoke[1], str(overlay)]
    counts = job_counts(snakemake(workdir, "-n", "--configfile", *configfiles, *smoke[2:]))
    expected = {"evaluate": 3, "table": 2, "notebook": 1, "report": 1, "all": 1}
    if shutil.which("latexmk"):
        expected["report_pdf"] = 1
    assert counts == expected
    output = snakemake(workdir, "-n", "--configfile", *configfiles, *smoke[2:]).stdout
    assert "results/evals/lyu2015/softmax_wd1/noise.json" in output and "noise_small.json" not in output


def test_tanay2016_smoke_run_produces_every_artifact(smoke_run):
    workdir, _ = smoke_run
    html = (workdir / "results/report/index.html").read_text()
    for artifact in [*TANAY2016["tables"], *TANAY2016["figures"]]:
        assert f'id="tanay2016-{artifact}"' in html
    assert "1.42" in html and "[L2W]" in html  # the authors' 3v7 best test error, with its source
    identity = (workdir / "results/tables/tanay2016/identity_check.csv").read_text().splitlines()[1:]
    assert identity and all(float(line.split(",")[3]) < 1e-6 for line in identity)
    benchmark = json.loads((workdir / "results/benchmarks/svm_path.json").read_text())
    assert benchmark["rows"][0]["ratio"] > 0 and benchmark["lambdas"] == 9
    assert (workdir / "results/report/notebooks/tanay2016.html").exists()
