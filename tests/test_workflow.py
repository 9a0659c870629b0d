"""The workflow as a user runs it: dry runs, lint, bad input, and a whole smoke-scale run."""

import json
import math
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
# 31 models (13 two-stage); 49 evaluations: the softmax models of both readings of lambda each have their
# noise and min_perturbation evaluations
PAPER_JOBS = {"prepare_dataset": 2, "preprocess_dataset": 1, "train_first_stage": 13, "train": 31, "evaluate": 49,
              "table": len(LYU2015["tables"]), "figure": len(LYU2015["figures"]), "notebook": 1,
              "benchmark": len(LYU2015["benchmarks"]), "paper_scorecard": 1, "report": 1}
GOODFELLOW2014 = yaml.safe_load((REPO / "config/papers/goodfellow2014.yaml").read_text())
# 16 models (13 with a first stage: six two-stage 240-unit maxouts, six early-stopping-then-retrain
# wide maxouts, the small CIFAR-10 conv maxout; the full one trains in one stage); evaluations: clean x 8,
# fgsm x 15, transfer 2 x 2, logistic 1
GOODFELLOW2014_JOBS = {"prepare_dataset": 2, "preprocess_dataset": 1, "train_first_stage": 13, "train": 16,
                       "evaluate": 28, "table": len(GOODFELLOW2014["tables"]), "figure": len(GOODFELLOW2014["figures"]),
                       "notebook": 1, "benchmark": len(GOODFELLOW2014["benchmarks"]), "paper_scorecard": 1, "report": 1}
SHAHAM2015 = yaml.safe_load((REPO / "config/papers/shaham2015.yaml").read_text())
# 15 models (the four MNIST nets with three seeds each, three CIFAR-10 nets); 40 evaluations (clean and A_mnist
# for every MNIST seed)
SHAHAM2015_JOBS = {"prepare_dataset": 2, "preprocess_dataset": 2, "train": 15, "adversarial_set": 2, "evaluate": 40,
                   "table": len(SHAHAM2015["tables"]), "figure": len(SHAHAM2015["figures"]), "notebook": 1,
                   "benchmark": len(SHAHAM2015["benchmarks"]), "paper_scorecard": 1, "report": 1}
TANAY2016 = yaml.safe_load((REPO / "config/papers/tanay2016.yaml").read_text())
# 45 SVM paths (one job per pair), the centered MNIST, LeNet low/high
TANAY2016_JOBS = {"prepare_dataset": 1, "preprocess_dataset": 1, "svm_path": 45, "train": 2, "evaluate": 6,
                  "table": len(TANAY2016["tables"]), "figure": len(TANAY2016["figures"]), "notebook": 1,
                  "benchmark": len(TANAY2016["benchmarks"]), "paper_scorecard": 1, "report": 1}
TODAY = yaml.safe_load((REPO / "config/papers/today.yaml").read_text())
REGISTRIES = {"lyu2015": LYU2015, "goodfellow2014": GOODFELLOW2014, "shaham2015": SHAHAM2015, "tanay2016": TANAY2016}
PAPER_SCALE_JOBS = {"lyu2015": PAPER_JOBS, "goodfellow2014": GOODFELLOW2014_JOBS, "shaham2015": SHAHAM2015_JOBS,
                    "tanay2016": TANAY2016_JOBS}


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
    """snakemake in `workdir`, with the library of that checkout (its src/) first on the path."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(workdir / "src"), os.environ.get("PYTHONPATH", "")])}
    result = subprocess.run([sys.executable, "-m", "snakemake", "--cores", "2", *args], cwd=workdir,
                            capture_output=True, text=True, env=env)
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


@pytest.mark.parametrize("paper", PAPER_SCALE_JOBS)
def test_paper_scale_dry_run_lists_every_job(checkout, paper):
    counts = job_counts(snakemake(checkout, "-n", "--config", f'papers=["{paper}"]'))
    expected = PAPER_SCALE_JOBS[paper]
    assert {rule: counts.get(rule) for rule in expected} == expected  # each paper's own benchmarks only


def test_today_attacks_every_trained_model_of_every_paper_once_without_retraining_it(checkout):
    """config/papers/today.yaml reads the other papers' models (<paper>/<model>): at paper scale three evaluations
    of each of the 50 trained models and of the control, on weights the other papers' train jobs make, once each."""
    targets = [f"today_{a}" for a in [*TODAY["tables"], *TODAY["figures"]]]
    result = snakemake(checkout, "-n", *targets, "results/benchmarks/today/pgd.json")
    counts, outputs = job_counts(result), re.findall(r"^\s+output: (.*)$", result.stdout, re.M)
    models = TODAY["tables"]["robustness_today"]["models"]
    assert len(models) == 1 + sum(jobs["train"] for jobs in PAPER_SCALE_JOBS.values())
    evaluations = [o for o in outputs if o.startswith("results/evals/")]
    assert len(evaluations) == counts["evaluate"] == len(models) * len(TODAY["evaluations"])
    assert all(o.startswith("results/evals/today/") for o in evaluations)
    assert counts["train"] == len(models) and counts["benchmark"] == 1
    weights = [o.split(",")[0] for o in outputs if o.startswith("results/models/") and "first_stage" not in o]
    assert len(set(weights)) == len(weights) and [w for w in weights if w.startswith("results/models/today/")] == [
        "results/models/today/masked_softmax/model.pt"]


@pytest.mark.parametrize("paper", PAPER_SCALE_JOBS)
def test_every_artifact_is_a_named_target(checkout, paper):
    tables, figures = REGISTRIES[paper]["tables"], REGISTRIES[paper]["figures"]
    targets = [f"{paper}_{a}" for a in [*tables, *figures]]
    counts = job_counts(snakemake(checkout, "-n", *targets))
    assert (counts["table"], counts["figure"]) == (len(tables), len(figures))
    assert all(counts[target] == 1 for target in targets) and "report" not in counts


def test_the_scorecard_is_a_named_target_of_every_paper(checkout):
    counts = job_counts(snakemake(checkout, "-n", "scorecard"))
    papers = len(list((REPO / "config" / "papers").glob("*.yaml")))  # papers: all (today's scorecard is empty)
    assert counts["paper_scorecard"] == papers and counts["scorecard"] == 1 and "report" not in counts


def test_lint_reports_nothing(checkout):
    result = snakemake(checkout, "--lint")
    assert "Lints for" not in result.stdout + result.stderr


def test_workflow_files_are_formatted():
    result = subprocess.run([str(Path(sys.executable).parent / "snakefmt"), "--check", "Snakefile", "workflow"],
                            cwd=REPO, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


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
    eps_curve = html[html.index('id="goodfellow2014-eps_curve"'):]
    assert "synthetic-standin" in eps_curve[:eps_curve.index("</figure>")]  # in a figure's caption too
    tex = (workdir / "results/report/report.tex").read_text()
    assert "Data: mnist" in tex and "synthetic-standin" in tex  # and in the LaTeX report's captions
    assert html.index('id="scorecard"') < html.index('id="goodfellow2014"')  # the report opens with the scorecard
    assert html.index('id="benchmarks"') < html.index('id="claims"')  # and closes with the papers' claims
    for paper, entries in REGISTRIES.items():
        card = json.loads((workdir / f"results/scorecard/{paper}/scorecard.json").read_text())
        assert card["counts"]["within"] == card["counts"]["outside"] == 0  # nothing is compared at smoke scale
        assert [c["claim_id"] for c in card["claims"]] == list(entries["claims"])
        assert all(f'id="claim-{paper}-{claim}"' in html for claim in entries["claims"])
    benchmark = json.loads((workdir / "results/benchmarks/lyu2015/train_step.json").read_text())
    assert {r["measure"].split(":")[0] for r in benchmark["rows"]} == {"maxout_grad_p2 (maxout_mlp)",
                                                                        "conv_maxout_grad_p2 (conv_maxout_mnist)"}
    chunks = json.loads((workdir / "results/benchmarks/lyu2015/eval_chunk.json").read_text())
    assert [r["measure"].split(":")[0] for r in chunks["rows"]] == ["maxout", "conv_maxout"]
    assert chunks["max_error_difference"] == {"maxout": 0.0, "conv_maxout": 0.0}  # the chunk size changes no error
    assert (workdir / "results/report/notebooks/lyu2015.html").exists()
    if shutil.which("latexmk") or os.environ.get("CI"):  # CI installs TeX: the PDF must build there
        assert (workdir / "results/report/report.pdf").read_bytes()[:5] == b"%PDF-"
        assert r"\section{Scorecard}" in (workdir / "results/report/report.tex").read_text()


def test_a_finished_table_has_nothing_to_do(smoke_run):
    workdir, smoke = smoke_run
    assert job_counts(snakemake(workdir, "-n", "lyu2015_table8", *smoke)) == {}


def test_changing_table7_noise_levels_reruns_only_what_depends_on_them(smoke_run, tmp_path):
    workdir, smoke = smoke_run
    overlay = tmp_path / "noise.yaml"
    overlay.write_text("overrides:\n  lyu2015:\n    evaluations:\n      noise: {stds: [0, 0.2, 0.3]}\n")
    configfiles = [smoke[1], str(overlay)]
    counts = job_counts(snakemake(workdir, "-n", "--configfile", *configfiles, *smoke[2:]))
    # the noise evaluation of the six softmax models (both readings of lambda); Tables VII, VIII and the lambda
    # convention table read it; lyu2015's scorecard reads those tables
    expected = {"evaluate": 6, "table": 3, "paper_scorecard": 1, "notebook": 1, "report": 1, "all": 1}
    if shutil.which("latexmk"):
        expected["report_pdf"] = 1
    assert counts == expected
    output = snakemake(workdir, "-n", "--configfile", *configfiles, *smoke[2:]).stdout
    assert "results/evals/lyu2015/softmax_wd1/noise.json" in output and "noise_small.json" not in output


def test_smoke_run_reports_every_goodfellow2014_artifact_beside_the_papers_numbers(smoke_run):
    workdir, _ = smoke_run
    html = (workdir / "results/report/index.html").read_text()
    for artifact in [*GOODFELLOW2014["tables"], *GOODFELLOW2014["figures"]]:
        assert f'id="goodfellow2014-{artifact}"' in html
    assert "99.90" in html and "0.78" in html and "40.90" in html  # printed numbers, from the registry
    transfer = (workdir / "results/tables/goodfellow2014/transfer_table.csv").read_text()
    assert transfer.count("maxout1600_adv_s1") == 2 and "crafted on the original" in transfer
    logistic = json.loads((workdir / "results/evals/goodfellow2014/logreg_3v7/logistic.json").read_text())
    assert logistic["closed_form_max_abs_gap"] < 1e-4  # the closed form holds on the trained model
    benchmark = json.loads((workdir / "results/benchmarks/goodfellow2014/fgsm.json").read_text())
    assert benchmark["rows"][0]["seconds"] > 0
    assert (workdir / "results/report/notebooks/goodfellow2014.html").exists()


def test_smoke_run_has_every_shaham2015_artifact_beside_the_papers_numbers(smoke_run):
    workdir, _ = smoke_run
    html = (workdir / "results/report/index.html").read_text()
    for artifact in [*SHAHAM2015["tables"], *SHAHAM2015["figures"]]:
        assert f'id="shaham2015-{artifact}"' in html
    assert "79.96" in html and "1203" in html and "1547" in html  # Tables 1-2 and the set sizes, from the registry
    for name, entry in SHAHAM2015["adversarial_sets"].items():  # each set built once, its size reported
        summary = json.loads((workdir / f"results/adversarial_sets/shaham2015/{name}.json").read_text())
        assert summary["size"] == sum(s["size"] for s in summary["size_per_step"])
        assert [s["p"] for s in summary["size_per_step"]] == [s["p"] for s in entry["steps"]]
        evaluation = json.loads((workdir / f"results/evals/shaham2015/{entry['model']}/on_{name}.json").read_text())
        assert evaluation["n"] == summary["size"]
        if summary["size"]:  # the baseline misclassifies every member of its own set (Tables 1-2: 0%)
            assert evaluation["error"] == 1.0
    history = json.loads((workdir / "results/models/shaham2015/cifar_baseline/provenance.json").read_text())
    assert all("monitor_error" in h for h in history["training"]["history"])  # Fig. 5's per-epoch test accuracy
    benchmark = json.loads((workdir / "results/benchmarks/shaham2015/robust_step.json").read_text())
    assert [r["measure"].split(":")[0] for r in benchmark["rows"]] == ["robust_l2 (shaham_mnist_convnet)"]
    assert (workdir / "results/report/notebooks/shaham2015.html").exists()


def test_a_finished_shaham2015_figure_has_nothing_to_do(smoke_run):
    workdir, smoke = smoke_run
    assert job_counts(snakemake(workdir, "-n", "shaham2015_fig1", *smoke)) == {}


def test_tanay2016_smoke_run_produces_every_artifact(smoke_run):
    workdir, _ = smoke_run
    html = (workdir / "results/report/index.html").read_text()
    for artifact in [*TANAY2016["tables"], *TANAY2016["figures"]]:
        assert f'id="tanay2016-{artifact}"' in html
    assert "1.42" in html and "[L2W]" in html  # the authors' 3v7 best test error, with its source
    identity = (workdir / "results/tables/tanay2016/identity_check.csv").read_text().splitlines()[1:]
    assert identity and all(float(line.split(",")[3]) < 1e-6 for line in identity)
    benchmark = json.loads((workdir / "results/benchmarks/tanay2016/svm_path.json").read_text())
    assert benchmark["rows"][0]["ratio"] > 0 and benchmark["lambdas"] == 9
    assert (workdir / "results/report/notebooks/tanay2016.html").exists()


def test_smoke_run_puts_every_model_under_todays_attacks_and_flags_the_masking_control(smoke_run):
    workdir, _ = smoke_run
    html = (workdir / "results/report/index.html").read_text()
    for artifact in [*TODAY["tables"], *TODAY["figures"]]:
        assert f'id="today-{artifact}"' in html
    checks = (workdir / "results/tables/today/masking_checks.csv").read_text()
    control = [line for line in checks.splitlines() if line.startswith("masked_softmax")]
    assert control and all("⚠" in line and "not 100% at large ε" in line for line in control)
    pgd = json.loads((workdir / "results/evals/today/shaham2015/robust_l2/pgd.json").read_text())
    assert [t["p"] for t in pgd["threats"]] == [math.inf, math.inf, 2, 1] and pgd["space"]["clip"]
    assert all(t["pgd_more_steps"] >= t["pgd"] for t in pgd["threats"])  # more steps are never weaker
    yuv = json.loads((workdir / "results/evals/today/shaham2015/cifar_baseline/autoattack.json").read_text())
    assert not yuv["space"]["clip"] and "std(input) / std(pixels)" in yuv["space"]["description"]
    benchmark = json.loads((workdir / "results/benchmarks/today/pgd.json").read_text())
    assert [r["ratio"] > 0 for r in benchmark["rows"]] == [True, True]
    assert benchmark["errors"]["ours, every step"] == benchmark["errors"]["torchattacks"]
    assert (workdir / "results/report/notebooks/today.html").exists()


def test_another_spelling_of_the_data_path_reruns_nothing(smoke_run):
    """The dataset is keyed on the checksums of its files, not on how torchvision_root is written."""
    workdir, smoke = smoke_run
    root = Path(smoke[-2].split("=", 1)[1])
    for spelling in (f"{root}/", os.path.relpath(root, workdir), f"{root}/../{root.name}"):
        args = [*smoke[:-2], f"torchvision_root={spelling}", smoke[-1]]
        assert job_counts(snakemake(workdir, "-n", *args)) == {}, spelling


def test_an_unknown_table_lists_the_known_ones(checkout):
    result = snakemake(checkout, "-n", "results/tables/lyu2015/table99.csv", check=False)
    assert result.returncode != 0
    assert "lyu2015 has no table 'table99'" in result.stdout + result.stderr and "known: table1, table2" in result.stdout + result.stderr


def test_run_from_another_directory_says_where_to_run(checkout, tmp_path):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    result = snakemake(elsewhere, "-s", str(checkout / "Snakefile"), "-n", check=False)
    assert result.returncode != 0
    assert f"run advrepro from its repository root: cd {checkout} (or add -d {checkout})" in result.stdout + result.stderr
    assert job_counts(snakemake(elsewhere, "-s", str(checkout / "Snakefile"), "-d", str(checkout), "-n"))


def test_a_new_paper_is_its_registry_its_module_and_its_notebook(checkout, offline_mnist):
    """tests/data/tiny_paper holds a fifth paper's three files; copied in, it runs at smoke scale and
    reaches the report with nothing else edited."""
    tiny = REPO / "tests" / "data" / "tiny_paper"
    added = [p.relative_to(tiny) for p in tiny.rglob("*") if p.is_file() and p.name != "README.md"]
    assert sorted(map(str, added)) == ["config/papers/tiny2024.yaml", "src/advrepro/papers/tiny2024.py",
                                       "workflow/notebooks/tiny2024.ipynb"]
    for path in added:
        assert not (checkout / path).exists()
        shutil.copy2(tiny / path, checkout / path)
    snakemake(checkout, "--configfile", "config/scales/smoke.yaml", "--config", f"torchvision_root={offline_mnist}",
              "papers=[tiny2024]")
    html = (checkout / "results/report/index.html").read_text()
    assert 'id="tiny2024-table1"' in html and 'id="tiny2024-fig1"' in html and "A Tiny Paper" in html
    assert 'id="scorecard-tiny2024"' in html and 'id="claim-tiny2024-positive_margin"' in html  # its scorecard, claims
    table = (checkout / "results/tables/tiny2024/table1.csv").read_text()
    assert "median margin" in table and "made up" not in table  # its own evaluation kind ran
    assert json.loads((checkout / "results/evals/tiny2024/softmax/margin.json").read_text())["margin"] > 0


def test_a_new_import_in_a_library_module_is_an_input_of_the_jobs_that_use_it(checkout):
    """Code dependencies are computed from the imports (advrepro.codedeps), not listed by hand."""
    (checkout / "src/advrepro/newhelper.py").write_text('"""A module the test adds."""\n')
    theory = checkout / "src/advrepro/theory.py"
    theory.write_text(theory.read_text().replace("import torch\n", "import torch\n\nimport advrepro.newhelper  # noqa: F401\n", 1))
    result = snakemake(checkout, "-n", "--forceall", "lyu2015_table8", "results/svm/tanay2016/3v7.json")
    inputs = {}
    for block in re.split(r"^(?=\s*rule \w+:$)", result.stdout, flags=re.M):  # grouped jobs are indented
        rule, line = re.match(r"\s*rule (\w+):", block), re.search(r"^\s+input: (.*)$", block, re.M)
        if rule and line:
            inputs.setdefault(rule[1], []).append(line[1])
    assert all("src/advrepro/newhelper.py" in line for line in inputs["table"] + inputs["svm_path"])  # they import theory
    assert not any("newhelper" in line for line in inputs["prepare_dataset"] + inputs["train"])  # they do not


def test_a_script_runs_by_hand_as_the_workflow_runs_it(smoke_run):
    """python scripts/<rule script>.py wildcard=value ... builds the job as Snakemake would (advrepro.jobs)."""
    workdir, smoke = smoke_run
    output = workdir / "results/evals/lyu2015/softmax_wd1/noise.json"
    before, stat = json.loads(output.read_text()), output.stat()
    env = {**os.environ, "PYTHONPATH": str(workdir / "src")}
    result = subprocess.run([sys.executable, "scripts/evaluate.py", "paper=lyu2015", "model=softmax_wd1",
                             "evaluation=noise", *smoke], cwd=workdir, capture_output=True, text=True, env=env)
    os.utime(output, ns=(stat.st_atime_ns, stat.st_mtime_ns))  # the smoke run stays up to date for other tests
    assert result.returncode == 0, result.stderr[-3000:]
    assert json.loads(output.read_text())["noise"] == before["noise"]
